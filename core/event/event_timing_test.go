package event

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/metric"
)

// The loop-side cost of one proxied request's observability: a request id,
// an event record (fixed fields, host, URIs, optionally headers) and the
// route metrics. The ring is drained inline every len(ring) iterations with
// a no-op consumer, so the figures include the (tiny) amortised release.

func benchRecord(b *testing.B, headers bool) {
	h := NewHub(Options{Loops: 1, RingSize: 1024, CaptureHeaders: headers})
	r := h.Ring(0)
	m := metric.NewSet(1).Route("route_1")
	in := newWire("Host", "api.example.com", "User-Agent", "bench/1.0", "Accept", "*/*", "Authorization", "Bearer x")
	out := newWire("Content-Type", "application/json", "Content-Length", "4567")
	g := NewIDGen(0)
	idBuf := make([]byte, 0, 24)
	nowMs := time.Now().UnixMilli()
	var own Record // a per-connection record, as the loop keeps one
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := g.Next(nowMs)
		idBuf = AppendID(idBuf[:0], id)
		m.Begin(0)
		own.Reset(headers)
		fillRecord(&own, id, &in, &out)
		r.Push(&own)
		m.Done(0, 200, 321, 4567, 12*time.Millisecond, 9*time.Millisecond, 3*time.Millisecond)
		if i&1023 == 1023 {
			r.drain(1024, func(*Record) {})
		}
	}
	if r.Drops() != 0 {
		b.Fatalf("%d drops: the ring filled", r.Drops())
	}
}

// BenchmarkLoopRecord: fill a per-connection Record without headers, Push
// (copy) it into the ring, and the route metrics.
func BenchmarkLoopRecord(b *testing.B) { benchRecord(b, false) }

// BenchmarkLoopRecordHeaders: the same, copying 4 request and 2 response headers.
func BenchmarkLoopRecordHeaders(b *testing.B) { benchRecord(b, true) }

// BenchmarkLoopRecordDropped: the ring is full (exporter stalled); the record is dropped and counted.
func BenchmarkLoopRecordDropped(b *testing.B) {
	r := newRing(1, false)
	var own Record
	r.Push(&own)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if r.Push(&own) {
			b.Fatal("ring not full")
		}
	}
}

// BenchmarkLoopBaselineNothing: the empty loop.
func BenchmarkLoopBaselineNothing(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
	}
}

// jsonEvent is a GatewayEvent as a plain struct, for the encoding/json baseline.
type jsonEvent struct {
	Type       string `json:"@type"`
	ID         string `json:"@id"`
	Timestamp  int64  `json:"@timestamp"`
	CallAt     int64  `json:"@callAt"`
	ReqID      string `json:"reqId"`
	Protocol   string `json:"protocol"`
	To         jsonTo `json:"to"`
	Target     jsonTo `json:"target"`
	URL        string `json:"url"`
	Method     string `json:"method"`
	From       string `json:"from"`
	Env        string `json:"@env"`
	Duration   int64  `json:"duration"`
	Overhead   int64  `json:"overhead"`
	Backend    int64  `json:"backendDuration"`
	Attempts   int    `json:"callAttempts"`
	Data       struct{ DataIn, DataOut int64 }
	Status     int          `json:"status"`
	Headers    []jsonHeader `json:"headers"`
	HeadersOut []jsonHeader `json:"headersOut"`
	Identity   *Identity    `json:"identity"`
	GwError    *string      `json:"gwError"`
	Err        bool         `json:"err"`
	ServiceID  string       `json:"@serviceId"`
	Service    string       `json:"@service"`
	Product    string       `json:"@product"`
	Remaining  Quotas       `json:"remainingQuotas"`
}

type jsonTo struct{ Scheme, Host, URI string }
type jsonHeader struct{ Key, Value string }

// BenchmarkLoopBaselineEncodingJSON: the naive design, building the event
// and encoding it with encoding/json on the loop for every request.
func BenchmarkLoopBaselineEncodingJSON(b *testing.B) {
	in := newWire("Host", "api.example.com", "User-Agent", "bench/1.0", "Accept", "*/*", "Authorization", "Bearer x")
	from := netip.MustParseAddr("192.0.2.7")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev := jsonEvent{
			Type: "GatewayEvent", ID: "1", Timestamp: 1, CallAt: 1, ReqID: "123456789", Protocol: "HTTP/1.1",
			To:     jsonTo{"http", "api.example.com", "/users/42"},
			Target: jsonTo{"http", "127.0.0.1:3000", "/api/users/42"}, URL: "http://api.example.com/users/42",
			Method: "POST", From: from.String(), Env: "prod", Duration: 12, Overhead: 3, Backend: 9, Attempts: 1,
			Status: 200, Identity: testIdentity, ServiceID: "route_1", Service: "Users API", Product: "otoroshi",
		}
		for _, h := range in.headers {
			ev.Headers = append(ev.Headers, jsonHeader{string(h.Name.Bytes(in.buf)), string(h.Value.Bytes(in.buf))})
		}
		if _, err := json.Marshal(&ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExportEncode: the off-loop cost of turning one record into
// GatewayEvent JSON with the hand-written appender (drain goroutine).
func BenchmarkExportEncode(b *testing.B) {
	r := newRing(1, true)
	rec := newRecord(r)
	in := newWire("Host", "api.example.com", "User-Agent", "bench/1.0", "Accept", "*/*", "Authorization", "Bearer x")
	out := newWire("Content-Type", "application/json")
	fillRecord(rec, 1, &in, &out)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendGatewayEvent(buf[:0], rec, uint64(i), DefaultEnv)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkExportPipeline: the whole off-loop path per event: drain a slot,
// encode it, hand it to an exporter that batches it and writes it: a console
// exporter writing to io.Discard, or a file exporter (cmd/torii's defaults)
// appending to a file in a temporary directory. The exporter goroutine runs
// concurrently, as in production, and the last flush (Close) is timed.
func BenchmarkExportPipeline(b *testing.B) {
	b.Run("console", func(b *testing.B) {
		c := DefaultExporterConfig()
		c.ID, c.Enabled, c.BufferSize = "console", true, 1<<16
		benchExport(b, c)
	})
	b.Run("file", func(b *testing.B) {
		c := DefaultExporterConfig()
		c.ID, c.Type, c.Enabled, c.BufferSize = "file", TypeFile, true, 1<<16
		path := filepath.Join(b.TempDir(), "events.ndjson")
		c.Config = json.RawMessage(fmt.Sprintf(`{"path":%q,"maxFileSize":67108864,"maxNumberOfFile":1}`, path))
		benchExport(b, c)
	})
}

func benchExport(b *testing.B, c ExporterConfig) {
	h := NewHub(Options{Loops: 1, RingSize: 1024, CaptureHeaders: true, Console: io.Discard})
	defer h.Close()
	if err := h.SetExporters([]ExporterConfig{c}); err != nil {
		b.Fatal(err)
	}
	e := (*h.exporters.Load())[0]
	r := h.Ring(0)
	in := newWire("Host", "api.example.com", "User-Agent", "bench/1.0", "Accept", "*/*")
	var own Record
	own.Reset(true)
	fillRecord(&own, 1, &in, nil)
	d := &drainer{h: h}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		if !r.Push(&own) {
			d.pass()
			r.Push(&own)
		}
	}
	d.pass()
	h.Close()
	b.StopTimer()
	// CPU of every goroutine (drain, exporter, syscalls) per event: the
	// figure that wall time hides when the two run on separate cores.
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu_ns/op")
	if e.dropped.Load() != 0 {
		// The exporter fell behind the drain: the figure is then the drop path's.
		b.Logf("exporter dropped %d of %d", e.dropped.Load(), b.N)
	}
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
