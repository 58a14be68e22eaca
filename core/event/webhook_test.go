package event

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/metric"
)

// collector is a real webhook endpoint on loopback that fails the first
// `fail` posts with 500 and records every post.
type collector struct {
	mu      sync.Mutex
	fail    int
	posts   []time.Time
	batches [][]map[string]any
	bad     []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts = append(c.posts, time.Now())
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Token") != "t0k" {
		c.bad = append(c.bad, fmt.Sprint(r.Header))
	}
	if c.fail > 0 {
		c.fail--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var batch []map[string]any
	if err := json.Unmarshal(body, &batch); err != nil {
		c.bad = append(c.bad, "body: "+err.Error())
	}
	c.batches = append(c.batches, batch)
}

func (c *collector) snapshot() (posts []time.Time, batches [][]map[string]any, bad []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.posts...), append([][]map[string]any(nil), c.batches...), append([]string(nil), c.bad...)
}

func webhookConfig(id, url string, buffer, group int, groupMs, backoffMs int64, retries int) ExporterConfig {
	c := DefaultExporterConfig()
	c.ID, c.Type, c.Enabled = id, TypeWebhook, true
	c.BufferSize, c.GroupSize, c.GroupDuration = buffer, group, groupMs
	c.Config = json.RawMessage(fmt.Sprintf(`{"url":%q,"headers":{"X-Token":"t0k"},"retries":%d,"backoffMs":%d,"timeoutMs":2000,"mtlsConfig":{"mtls":false}}`, url, retries, backoffMs))
	return c
}

func startHub(t *testing.T, opts Options) *Hub {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := NewHub(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func record(t *testing.T, r *Ring, n int) {
	t.Helper()
	for i := range n {
		rec := newRecord(r)
		fillRecord(rec, uint64(i+1), nil, nil)
		if !r.Push(rec) {
			t.Fatalf("ring full at record %d", i)
		}
	}
}

// TestWebhookBatchesRetryBackoff: 7 events with groupSize 3 arrive as
// batches of 3, 3 and 1 (the last one flushed by groupDuration); the first
// two posts get a 500 and are retried after 100ms then 200ms.
func TestWebhookBatchesRetryBackoff(t *testing.T) {
	c := &collector{fail: 2}
	srv := httptest.NewServer(c)
	defer srv.Close()
	h := startHub(t, Options{Loops: 1, RingSize: 64, PollInterval: time.Millisecond})
	if err := h.SetExporters([]ExporterConfig{webhookConfig("w1", srv.URL, 100, 3, 300, 100, 3)}); err != nil {
		t.Fatal(err)
	}
	record(t, h.Ring(0), 7)
	// The exporter counts a batch once the answer is back, after the server saw it.
	waitFor(t, "7 events delivered", func() bool { return h.Stats().Exporters[0].Sent == 7 })
	posts, batches, bad := c.snapshot()
	if len(bad) > 0 {
		t.Fatalf("bad posts: %v", bad)
	}
	var sizes []int
	var ids []string
	for _, b := range batches {
		sizes = append(sizes, len(b))
		for _, ev := range b {
			ids = append(ids, ev["reqId"].(string))
			if ev["@type"] != "GatewayEvent" {
				t.Fatalf("event type %v", ev["@type"])
			}
		}
	}
	if fmt.Sprint(sizes) != "[3 3 1]" || strings.Join(ids, ",") != "1,2,3,4,5,6,7" {
		t.Fatalf("batches %v ids %v", sizes, ids)
	}
	if len(posts) != 5 {
		t.Fatalf("%d posts, want 5 (2 failed + 3 batches)", len(posts))
	}
	if d := posts[1].Sub(posts[0]); d < 100*time.Millisecond {
		t.Fatalf("first retry after %v, want ≥ 100ms backoff", d)
	}
	if d := posts[2].Sub(posts[1]); d < 200*time.Millisecond {
		t.Fatalf("second retry after %v, want ≥ 200ms (doubled) backoff", d)
	}
	st := h.Stats().Exporters[0]
	if st.Sent != 7 || st.Errors != 2 || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDeadWebhookDropsAndCounts: an endpoint that never answers in time
// fills the exporter's bounded queue; the rest is dropped and counted, the
// rings keep draining, and the loss shows in /metrics.
func TestDeadWebhookDropsAndCounts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	set := metric.NewSet(1)
	set.ExposeProcessMetrics(false)
	h := startHub(t, Options{Loops: 1, RingSize: 64, PollInterval: time.Millisecond, Metrics: set})
	// A closed port as a second, dead, exporter: connection refused, no retry wait.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	cfgs := []ExporterConfig{
		webhookConfig("hang", srv.URL, 5, 1, 1000, 50, 0),
		webhookConfig("refused", refused, 1000, 10, 20, 1, 0),
	}
	if err := h.SetExporters(cfgs); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		record(t, h.Ring(0), 50)
		waitFor(t, "ring drained", func() bool { return h.Ring(0).Len() == 0 })
	}
	waitFor(t, "all events accounted for", func() bool {
		st := h.Stats()
		hang, ref := st.Exporters[0], st.Exporters[1]
		return hang.Dropped > 0 && ref.Failed == 200 && st.Recorded == 200
	})
	st := h.Stats()
	hang := st.Exporters[0]
	// One batch is stuck in the post, up to 5 more wait in the queue.
	// One failed attempt per batch (retries 0); at most 10 events per batch.
	if ref := st.Exporters[1]; ref.Errors < 20 || ref.Errors > 200 {
		t.Fatalf("refused exporter: %+v", ref)
	}
	if hang.Dropped < 200-1-5 || hang.Sent != 0 || st.RingDrops != 0 {
		t.Fatalf("stats %+v", st)
	}
	var b bytes.Buffer
	set.WritePrometheus(&b)
	text := b.String()
	for _, want := range []string{
		fmt.Sprintf(`torii_exporter_events_total{exporter="hang",type="webhook",outcome="dropped"} %d`, hang.Dropped),
		`torii_exporter_events_total{exporter="refused",type="webhook",outcome="failed"} 200`,
		fmt.Sprintf(`torii_exporter_errors_total{exporter="refused",type="webhook"} %d`, st.Exporters[1].Errors),
		`torii_events_recorded_total 200`,
		`torii_events_dropped_total{stage="ring"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Fatalf("metrics lack %q:\n%s", want, text)
		}
	}
}

func TestExporterValidation(t *testing.T) {
	h := NewHub(Options{})
	defer h.Close()
	good := webhookConfig("ok", "http://127.0.0.1:1", 10, 1, 10, 1, 0)
	f := func(mut func(c *ExporterConfig), field string) {
		t.Helper()
		c := good
		mut(&c)
		err := h.SetExporters([]ExporterConfig{good, c})
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), field) {
			t.Fatalf("want ErrBadConfig naming %s, got %v", field, err)
		}
	}
	f(func(c *ExporterConfig) {}, "duplicate")
	f(func(c *ExporterConfig) { c.ID = "x"; c.BufferSize = 0 }, "bufferSize")
	f(func(c *ExporterConfig) { c.ID = "x"; c.GroupSize = -1 }, "groupSize")
	f(func(c *ExporterConfig) { c.ID = "x"; c.GroupDuration = 0 }, "groupDuration")
	f(func(c *ExporterConfig) { c.ID = "x"; c.Config = json.RawMessage(`{"url":"ftp://x"}`) }, "config.url")
	f(func(c *ExporterConfig) { c.ID = "x"; c.Type = TypeFile; c.Config = json.RawMessage(`{}`) }, "config.path")
	f(func(c *ExporterConfig) {
		c.ID = "x"
		c.Filtering.Include = []map[string]any{{"status": map[string]any{"$regex": "("}}}
	}, "filtering.include[0]")
	f(func(c *ExporterConfig) {
		c.ID = "x"
		c.Filtering.Exclude = []map[string]any{{"status": map[string]any{"$gt": "a"}}}
	}, "filtering.exclude[0]")
	if st := h.Stats(); len(st.Exporters) != 0 {
		t.Fatalf("a failed SetExporters changed the exporters: %+v", st)
	}
	elastic := good
	elastic.ID, elastic.Type = "k", "elastic"
	if err := h.SetExporters([]ExporterConfig{good, elastic}); err != nil {
		t.Fatal(err)
	}
	if st := h.Stats(); len(st.Exporters) != 1 || fmt.Sprint(st.Unsupported) != "[k]" {
		t.Fatalf("stats %+v", st)
	}
}
