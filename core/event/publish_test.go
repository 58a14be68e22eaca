package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/httpparse"
)

// TestPublishThroughFilters: audit and alert documents go through the same
// exporters and filters as gateway events.
func TestPublishThroughFilters(t *testing.T) {
	all, alerts := &syncBuffer{}, &syncBuffer{}
	h := startHub(t, Options{Loops: 1, Console: all, PollInterval: time.Millisecond})
	// Two console exporters share one writer; tell them apart with a second hub for alerts.
	ha := startHub(t, Options{Loops: 1, Console: alerts, PollInterval: time.Millisecond})
	c := DefaultExporterConfig()
	c.ID, c.Enabled, c.GroupSize, c.GroupDuration = "all", true, 1, 10
	if err := h.SetExporters([]ExporterConfig{c}); err != nil {
		t.Fatal(err)
	}
	c.ID = "alerts"
	c.Filtering.Include = []map[string]any{{"@type": "AlertEvent"}}
	c.Filtering.Exclude = []map[string]any{{"alert": AlertCircuitBreakerClosed}}
	if err := ha.SetExporters([]ExporterConfig{c}); err != nil {
		t.Fatal(err)
	}
	for _, hub := range []*Hub{h, ha} {
		hub.Publish(KindAudit, []byte(`{"audit":"AdminApiEvent","action":"UPDATE_ROUTE","message":"x"}`))
		hub.Publish(KindAudit, []byte(`{}`))
		hub.Publish(KindAudit, []byte(`[1]`))
		hub.Publish(KindAudit, []byte(`{"broken":`))
		if err := hub.PublishAlert(AlertCircuitBreakerOpened, map[string]any{"route": "r1", "target": "127.0.0.1:3000", "@type": "spoof"}); err != nil {
			t.Fatal(err)
		}
		if err := hub.PublishAlert(AlertCircuitBreakerClosed, map[string]any{"route": "r1"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "4 documents", func() bool { return len(all.lines()) == 4 })
	waitFor(t, "1 alert", func() bool { return len(alerts.lines()) == 1 })
	var docs []map[string]any
	for _, l := range all.lines() {
		var d map[string]any
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("bad line %q: %v", l, err)
		}
		docs = append(docs, d)
	}
	if docs[0]["@type"] != "AuditEvent" || docs[0]["action"] != "UPDATE_ROUTE" || docs[1]["@type"] != "AuditEvent" {
		t.Fatalf("audit docs: %v", docs[:2])
	}
	if docs[2]["@type"] != "AlertEvent" || docs[2]["alert"] != AlertCircuitBreakerOpened || docs[2]["route"] != "r1" || docs[2]["@product"] != "otoroshi" {
		t.Fatalf("alert doc: %v", docs[2])
	}
	if !strings.Contains(alerts.lines()[0], AlertCircuitBreakerOpened) {
		t.Fatalf("filtered exporter got %v", alerts.lines())
	}
	if st := h.Stats(); st.Published != 6 || st.Invalid != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestExporterConfigRoundTrip(t *testing.T) {
	in := `{"id":"e1","name":"hook","desc":"d","type":"webhook","enabled":true,"bufferSize":10,"jsonWorkers":1,
	"sendWorkers":5,"groupSize":2,"groupDuration":1000,"projection":{},"filtering":{"include":[{"@type":"GatewayEvent"}],"exclude":[]},
	"config":{"url":"http://127.0.0.1:9/x","headers":{},"mtlsConfig":{"mtls":false}},"metadata":{"k":"v"},"tags":["t"],
	"_loc":{"tenant":"default","teams":["default"]}}`
	cs, err := DecodeExporterConfigs([]byte("[" + in + "]"))
	if err != nil {
		t.Fatal(err)
	}
	c := cs[0]
	if c.ID != "e1" || c.BufferSize != 10 || c.GroupDuration != 1000 || len(c.Filtering.Include) != 1 || c.Validate() != nil {
		t.Fatalf("decoded %+v (validate: %v)", c, c.Validate())
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	json.Unmarshal([]byte(in), &a)
	json.Unmarshal(out, &b)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("round trip changed the config:\n in %v\nout %v", a, b)
	}
	// Missing fields take Otoroshi's defaults.
	cs, err = DecodeExporterConfigs([]byte(`{"id":"e2","type":"Console"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := cs[0]; d.BufferSize != 5000 || d.GroupSize != 100 || d.GroupDuration != 30000 || d.Enabled || string(d.Config) != "{}" || d.Validate() != nil {
		t.Fatalf("defaults: %+v", d)
	}
	if _, err := DecodeExporterConfigs([]byte(`{"id":1}`)); err == nil {
		t.Fatalf("bad id type accepted")
	}
}

func TestAccessLog(t *testing.T) {
	rec := &Record{}
	rec.reset(false)
	fillRecord(rec, 77, nil, nil)
	rec.From = netip.MustParseAddr("2001:db8::1")
	b := appendCommonLog(nil, rec)
	re := regexp.MustCompile(`^2001:db8::1 - abcdefghijklmnop \[27/Nov/2026:09:00:00 \+0000\] "POST /users/42\?x=\\x221\\x22 HTTP/1.1" 200 4567$`)
	if !re.Match(b) {
		t.Fatalf("CLF line %q", b)
	}
	rec.Method = httpparse.MethodOther
	rec.SetMethodToken([]byte("BREW"))
	rec.Identity = nil
	rec.DataOut = 0
	if got := string(appendCommonLog(nil, rec)); !strings.HasPrefix(got, "2001:db8::1 - - [") || !strings.Contains(got, `"BREW `) || !strings.HasSuffix(got, " 200 -") {
		t.Fatalf("CLF line %q", got)
	}
	var m map[string]any
	if err := json.Unmarshal(appendJSONLog(nil, rec), &m); err != nil {
		t.Fatal(err)
	}
	if m["reqId"] != "77" || m["method"] != "BREW" || m["status"] != 200.0 || m["duration"] != 12.0 || m["route"] != "route_1" || m["apikey"] != nil {
		t.Fatalf("JSON log %v", m)
	}

	// Through a running hub: the drain goroutine writes one line per record.
	var out syncBuffer
	h := startHub(t, Options{Loops: 1, AccessLog: &out, AccessLogFormat: AccessLogCommon, PollInterval: time.Millisecond})
	record(t, h.Ring(0), 3)
	waitFor(t, "3 access log lines", func() bool { return len(out.lines()) == 3 })
	sc := bufio.NewScanner(bytes.NewReader([]byte(out.String())))
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"POST /users/42`) {
			t.Fatalf("line %q", sc.Text())
		}
	}
}
