package event

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/httpparse"
)

// TestGatewayEventFields records an exchange as the engine would, drains it
// through a running Hub into a console exporter, and checks every field.
func TestGatewayEventFields(t *testing.T) {
	out := &syncBuffer{}
	h := NewHub(Options{Loops: 2, RingSize: 16, CaptureHeaders: true, Console: out, Env: "test"})
	cfg := DefaultExporterConfig()
	cfg.ID, cfg.Enabled, cfg.GroupSize, cfg.GroupDuration = "c1", true, 1, 10
	if err := h.SetExporters([]ExporterConfig{cfg}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	in := newWire("Host", "api.example.com", "Authorization", "Bearer s3cr3t", "X-Api-Key", "k3y",
		"Otoroshi-Client-Secret", "sec", "COOKIE", "sid=1", "Accept", "application/json")
	resp := newWire("Content-Type", "application/json", "Set-Cookie", "sid=2")
	ring := h.Ring(1)
	rec := newRecord(ring)
	fillRecord(rec, 123456789, &in, &resp)
	if !ring.Push(rec) {
		t.Fatal("Push on an empty ring refused the record")
	}

	waitFor(t, "one event", func() bool { return len(out.lines()) == 1 })
	line := out.lines()[0]
	if strings.Contains(line, "s3cr3t") || strings.Contains(line, "k3y") || strings.Contains(line, "sid=") || strings.Contains(line, `"sec"`) {
		t.Fatalf("secret leaked: %s", line)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("event is not JSON: %v\n%s", err, line)
	}
	f := func(path string, want any) {
		t.Helper()
		var v any = ev
		for _, k := range strings.Split(path, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%s: parent is %T", path, v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("%s missing in %s", path, line)
			}
		}
		if want == "<string>" {
			if _, ok := v.(string); !ok {
				t.Fatalf("%s = %#v, want a string", path, v)
			}
			return
		}
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(v)
		if string(wb) != string(gb) {
			t.Fatalf("%s = %s, want %s", path, gb, wb)
		}
	}
	ms := float64(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC).UnixMilli())
	f("@type", "GatewayEvent")
	f("@id", "<string>")
	f("@timestamp", ms+12) // the end of the exchange: 12ms after the call
	f("@callAt", ms)
	f("reqId", "123456789")
	f("parentReqId", nil)
	f("protocol", "HTTP/1.1")
	f("to", map[string]any{"scheme": "http", "host": "api.example.com", "uri": `/users/42?x="1"`})
	f("target", map[string]any{"scheme": "http", "host": "127.0.0.1:3000", "uri": `/api/users/42?x="1"`})
	f("url", `http://api.example.com/users/42?x="1"`)
	f("method", "POST")
	f("from", "192.0.2.7")
	f("@env", "test")
	f("duration", 12)
	f("overhead", 3)
	f("backendDuration", 9)
	f("callAttempts", 2)
	f("data", map[string]any{"dataIn": 321, "dataOut": 4567})
	f("status", 200)
	f("responseChunked", false)
	f("headers", []map[string]string{
		{"key": "Host", "value": "api.example.com"},
		{"key": "Authorization", "value": Redacted},
		{"key": "X-Api-Key", "value": Redacted},
		{"key": "Otoroshi-Client-Secret", "value": Redacted},
		{"key": "COOKIE", "value": Redacted},
		{"key": "Accept", "value": "application/json"},
	})
	f("headersOut", []map[string]string{{"key": "Content-Type", "value": "application/json"}, {"key": "Set-Cookie", "value": Redacted}})
	f("identity", map[string]any{"identityType": "APIKEY", "identity": "abcdefghijklmnop", "label": "demo key", "tags": []string{"prod"}, "metadata": map[string]string{"team": "a"}})
	f("gwError", nil)
	f("err", false)
	f("@serviceId", "route_1")
	f("@service", "Users API")
	f("@product", "otoroshi")
	f("remainingQuotas.remainingCallsPerDay", 990)
	f("remainingQuotas.authorizedCallsPerWindow", 100)
	f("truncated", false)
}

func TestGatewayEventEdgeCases(t *testing.T) {
	r := newRing(1, false)
	rec := newRecord(r)
	rec.Status = 504
	rec.Method = httpparse.MethodOther
	rec.SetMethodToken([]byte("PROPFIND"))
	rec.Version = httpparse.HTTP10
	rec.Flags = FlagTLS | FlagTargetTLS | FlagChunked
	rec.GwError = "errors.request.timeout"
	rec.Backend = rec.Duration + 5 // a clock oddity must not give a negative overhead
	rec.SetHost([]byte("h\xff\x01<b>"))
	rec.SetURI([]byte(strings.Repeat("u", MaxURILen+10)))
	rec.AddHeaderIn([]byte("X"), []byte("dropped: ring does not capture headers"))
	r.Push(rec)
	var doc []byte
	r.drain(1, func(rec *Record) { doc = AppendGatewayEvent(nil, rec, 1, DefaultEnv) })
	var ev map[string]any
	if err := json.Unmarshal(doc, &ev); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	want := map[string]any{
		"method": "PROPFIND", "protocol": "HTTP/1.0", "status": 504.0, "err": true,
		"gwError": "errors.request.timeout", "identity": nil, "responseChunked": true,
		"truncated": true, "overhead": 0.0, "from": "",
	}
	for k, v := range want {
		if ev[k] != v {
			t.Fatalf("%s = %#v, want %#v", k, ev[k], v)
		}
	}
	to := ev["to"].(map[string]any)
	if to["scheme"] != "https" || to["host"] != "h\ufffd\x01<b>" || len(to["uri"].(string)) != MaxURILen {
		t.Fatalf("to = %#v", to)
	}
	if ev["target"].(map[string]any)["scheme"] != "https" {
		t.Fatalf("target scheme: %v", ev["target"])
	}
	if hs := ev["headers"].([]any); len(hs) != 0 {
		t.Fatalf("headers captured while off: %v", hs)
	}
	if q := ev["remainingQuotas"].(map[string]any); len(q) != 0 {
		t.Fatalf("remainingQuotas without a key: %v", q)
	}
	if !json.Valid(doc) || strings.Contains(string(doc), "<b>") {
		t.Fatalf("HTML not escaped: %s", doc)
	}
}

// TestRecordArenaLimits fills more headers than fit and checks nothing
// overflows and truncation is flagged.
func TestRecordArenaLimits(t *testing.T) {
	r := newRing(1, true)
	rec := newRecord(r)
	long := strings.Repeat("v", 1000)
	for range 3 * MaxHeaders {
		rec.AddHeaderIn([]byte("X-Long-Header-Name"), []byte(long))
		rec.AddHeaderOut([]byte(strings.Repeat("N", 100)), []byte("v"))
	}
	if rec.Flags&FlagTruncated == 0 {
		t.Fatalf("truncation not flagged")
	}
	if int(rec.a.nIn) > MaxHeaders || int(rec.a.nOut) > MaxHeaders || int(rec.a.used) > ArenaSize {
		t.Fatalf("limits passed: in %d out %d used %d", rec.a.nIn, rec.a.nOut, rec.a.used)
	}
	for _, h := range rec.a.headersIn[:rec.a.nIn] {
		if h.value.n != MaxHeaderValueLen {
			t.Fatalf("value kept %d bytes, want %d", h.value.n, MaxHeaderValueLen)
		}
	}
	for _, h := range rec.a.headersOut[:rec.a.nOut] {
		if h.name.n != MaxHeaderNameLen {
			t.Fatalf("name kept %d bytes, want %d", h.name.n, MaxHeaderNameLen)
		}
	}
	if doc := AppendGatewayEvent(nil, rec, 1, "x"); !json.Valid(doc) {
		t.Fatalf("invalid JSON: %s", doc)
	}
	// A reused record starts empty.
	rec.Reset(true)
	if rec.a.nIn != 0 || rec.a.used != 0 || rec.Flags != 0 || len(rec.Host()) != 0 {
		t.Fatalf("reused record not reset")
	}
}
