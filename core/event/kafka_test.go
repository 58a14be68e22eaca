package event

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func kafkaExporter(id string, servers []string, buffer, group int, extra string) ExporterConfig {
	c := DefaultExporterConfig()
	c.ID, c.Type, c.Enabled = id, TypeKafka, true
	c.BufferSize, c.GroupSize, c.GroupDuration = buffer, group, 50
	srv, _ := json.Marshal(servers)
	c.Config = json.RawMessage(fmt.Sprintf(`{"servers":%s,"topic":"otoroshi-events","securityProtocol":"PLAINTEXT",
		"properties":{"compression.type":"gzip","linger.ms":"5","delivery.timeout.ms":"1500"}%s}`, srv, extra))
	return c
}

// consumeIDs reads every record of the topic on the cluster at addrs and
// returns the events' reqId, sorted numerically, once want of them arrived.
func consumeIDs(t *testing.T, addrs []string, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("otoroshi-events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ids []string
	for len(ids) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			var ev map[string]any
			if err := json.Unmarshal(r.Value, &ev); err != nil || ev["@type"] != "GatewayEvent" {
				t.Errorf("record %q: %v", r.Value, err)
				return
			}
			ids = append(ids, ev["reqId"].(string))
		})
	}
	sort.Slice(ids, func(i, j int) bool { a, _ := strconv.Atoi(ids[i]); b, _ := strconv.Atoi(ids[j]); return a < b })
	return ids
}

func seq(from, to int) string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, strconv.Itoa(i))
	}
	return strings.Join(s, ",")
}

// TestKafkaExporter: events go to a franz-go kfake cluster in gzip batches
// and arrive exactly once each; while the broker is down the exporter
// fails and drops, counting every event, without the hub's rings ever
// filling; after the broker comes back on the same port the next events
// are delivered.
func TestKafkaExporter(t *testing.T) {
	port := testkit.FreePort(t)
	dir := t.TempDir() // the broker's log: a restart keeps topics and records
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.SeedTopics(1, "otoroshi-events"))
	if err != nil {
		t.Fatal(err)
	}
	addrs := cluster.ListenAddrs()
	h := startHub(t, Options{Loops: 1, RingSize: 256, PollInterval: time.Millisecond})
	if err := h.SetExporters([]ExporterConfig{kafkaExporter("k1", addrs, 100, 10, "")}); err != nil {
		t.Fatal(err)
	}
	record(t, h.Ring(0), 25)
	waitFor(t, "25 events delivered", func() bool { return h.Stats().Exporters[0].Sent == 25 })
	if got := strings.Join(consumeIDs(t, addrs, 25), ","); got != seq(1, 25) {
		t.Fatalf("kafka got %s", got)
	}

	// Broker outage: the exporter's queue (100) fills and the rest is
	// dropped and counted; the hub's rings keep draining.
	cluster.Close()
	for r := range 4 {
		recordFrom(t, h.Ring(0), 100+50*r, 50)
		waitFor(t, "ring drained", func() bool { return h.Ring(0).Len() == 0 })
	}
	waitFor(t, "drops counted", func() bool { return h.Stats().Exporters[0].Dropped >= 90 })
	if st := h.Stats(); st.RingDrops != 0 {
		t.Fatalf("the rings dropped %d records: the outage reached the loops", st.RingDrops)
	}

	// The broker comes back on the same port with its log.
	cluster2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster2.Close()
	// Once what the outage left in the queue is sent or failed, new events
	// flow to the restarted broker.
	waitLong(t, "the outage's queue drained", func() bool { return h.Stats().Exporters[0].Queued == 0 })
	recordFrom(t, h.Ring(0), 1000, 10)
	// Every one of the 235 events is sent, failed or dropped, and counted.
	waitLong(t, "every event accounted for", func() bool {
		e := h.Stats().Exporters[0]
		return e.Queued == 0 && e.Sent+e.Failed+e.Dropped == 235 && e.Sent >= 35
	})
	e := h.Stats().Exporters[0]
	got := consumeIDs(t, cluster2.ListenAddrs(), int(e.Sent))
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("event %s received twice", id)
		}
		seen[id] = true
	}
	for i := 1; i <= 25; i++ {
		if !seen[strconv.Itoa(i)] {
			t.Fatalf("event %d, delivered before the outage, lost by the restart: %v", i, got)
		}
	}
	for i := 1000; i < 1010; i++ {
		if !seen[strconv.Itoa(i)] {
			t.Fatalf("event %d, recorded after the restart, not received: %v", i, got)
		}
	}
	if uint64(len(got)) != e.Sent {
		t.Fatalf("the restarted broker has %d events, the exporter counts %d sent", len(got), e.Sent)
	}
	t.Logf("outage: %d sent after the restart, %d failed, %d dropped", e.Sent-25, e.Failed, e.Dropped)
}

// TestKafkaConfigErrors: each bad field is named.
func TestKafkaConfigErrors(t *testing.T) {
	f := func(config, field string) {
		t.Helper()
		c := DefaultExporterConfig()
		c.ID, c.Type = "k", TypeKafka
		c.Config = json.RawMessage(config)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v, want one naming %s", config, err, field)
		}
	}
	f(`{}`, "config.servers")
	f(`{"servers":["nohost"]}`, "config.servers[0]")
	f(`{"servers":["h:1"],"securityProtocol":"TLS"}`, "config.securityProtocol")
	f(`{"servers":["h:1"],"securityProtocol":"SASL_PLAINTEXT"}`, "config.saslConfig.username")
	f(`{"servers":["h:1"],"securityProtocol":"SASL_SSL","saslConfig":{"username":"u","mechanism":"GSSAPI"}}`, "config.saslConfig.mechanism")
	f(`{"servers":["h:1"],"securityProtocol":"SSL","truststore":"/nonexistent.jks"}`, "config.truststore")
	f(`{"servers":["h:1"],"properties":{"compression.type":"brotli"}}`, "config.properties.compression.type")
	f(`{"servers":["h:1"],"properties":{"acks":"2"}}`, "config.properties.acks")
	c := DefaultExporterConfig()
	c.ID, c.Type = "k", TypeKafka
	c.Config = json.RawMessage(`{"servers":["127.0.0.1:9092"],"securityProtocol":"SASL_SSL","saslConfig":{"username":"u","password":"p","mechanism":"SCRAM-SHA-512"},"hostValidation":false}`)
	if err := c.Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

// waitLong is waitFor with room for the delivery timeouts of a broker outage.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recordFrom pushes n records with request ids from, from+1...
func recordFrom(t *testing.T, r *Ring, from, n int) {
	t.Helper()
	for i := range n {
		rec := newRecord(r)
		fillRecord(rec, uint64(from+i), nil, nil)
		if !r.Push(rec) {
			t.Fatalf("ring full at record %d", i)
		}
	}
}
