package event

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/httpparse"
	"github.com/torii-gateway/torii/internal/testkit"
)

// syncBuffer collects what one writer goroutine writes (an exporter, the access log), for the
// test to read whole or line by line.
type syncBuffer struct{ testkit.Buffer }

// lines returns the complete lines written so far.
func (s *syncBuffer) lines() []string {
	text := s.String()
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		return strings.Split(text[:i], "\n")
	}
	return nil
}

// waitFor polls cond every 5ms for at most 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wire is a request head as the engine would hold it: the raw bytes and the
// header spans a parser produced over them.
type wire struct {
	buf     []byte
	headers []httpparse.Header
}

// newWire lays out name: value pairs in one buffer and records their spans.
func newWire(pairs ...string) wire {
	var w wire
	for i := 0; i+1 < len(pairs); i += 2 {
		ns := int32(len(w.buf))
		w.buf = append(w.buf, pairs[i]...)
		ne := int32(len(w.buf))
		w.buf = append(w.buf, ": "...)
		vs := int32(len(w.buf))
		w.buf = append(w.buf, pairs[i+1]...)
		ve := int32(len(w.buf))
		w.buf = append(w.buf, "\r\n"...)
		w.headers = append(w.headers, httpparse.Header{Name: httpparse.Span{Start: ns, End: ne}, Value: httpparse.Span{Start: vs, End: ve}})
	}
	return w
}

// Precomputed so fillRecord costs what the engine's filling costs.
var (
	testStart = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC).UnixNano()
	testFrom  = netip.MustParseAddr("::ffff:192.0.2.7")
)

var testIdentity = &Identity{ClientID: "abcdefghijklmnop", ClientName: "demo key", Tags: []string{"prod"}, Metadata: Pairs{"team", "a"}}

// fillRecord fills rec as the engine does at the end of an exchange.
func fillRecord(rec *Record, reqID uint64, in, out *wire) {
	rec.ReqID = reqID
	rec.Start = testStart
	rec.Duration = int64(12 * time.Millisecond)
	rec.Backend = int64(9 * time.Millisecond)
	rec.DataIn, rec.DataOut = 321, 4567
	rec.Status = 200
	rec.Method = httpparse.MethodPost
	rec.Version = httpparse.HTTP11
	rec.Attempts = 2
	rec.From = testFrom
	rec.RouteID, rec.RouteName = "route_1", "Users API"
	rec.TargetHost = "127.0.0.1:3000"
	rec.Identity = testIdentity
	rec.Quotas = Quotas{AuthorizedCallsPerWindow: 100, RemainingCallsPerWindow: 99, ThrottlingCallsPerWindow: 1,
		AuthorizedCallsPerDay: 1000, CurrentCallsPerDay: 10, RemainingCallsPerDay: 990,
		AuthorizedCallsPerMonth: 10000, CurrentCallsPerMonth: 100, RemainingCallsPerMonth: 9900}
	rec.SetHost([]byte("api.example.com"))
	rec.SetURI([]byte("/users/42?x=\"1\""))
	rec.SetTargetURI([]byte("/api/users/42?x=\"1\""))
	if in != nil {
		rec.AddRequestHeaders(in.buf, in.headers)
	}
	if out != nil {
		rec.AddResponseHeaders(out.buf, out.headers)
	}
}
