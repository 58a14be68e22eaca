//go:build !race

package event

import (
	"testing"
	"time"
)

// TestRecordAllocs: recording on the loop, including when the ring is full
// and the record is dropped, and formatting a request id, never allocates.
func TestRecordAllocs(t *testing.T) {
	h := NewHub(Options{Loops: 1, RingSize: 4, CaptureHeaders: true})
	r := h.Ring(0)
	in := newWire("Host", "api.example.com", "Authorization", "Bearer x", "Accept", "*/*")
	out := newWire("Content-Type", "text/plain")
	g := NewIDGen(3)
	idBuf := make([]byte, 0, 32)
	now := time.Now().UnixMilli()
	var own Record // a per-connection record, as the loop keeps one
	n := testing.AllocsPerRun(1000, func() {
		id := g.Next(now)
		idBuf = AppendID(idBuf[:0], id)
		own.Reset(r.CapturesHeaders())
		fillRecord(&own, id, &in, &out)
		r.Push(&own)
	})
	if n != 0 {
		t.Fatalf("recording allocates %v times per event", n)
	}
	if r.Drops() == 0 {
		t.Fatalf("the ring never filled: the full path was not measured")
	}
	// The drain side: encoding and access log lines reuse their buffers.
	buf := make([]byte, 0, 8192)
	n = testing.AllocsPerRun(100, func() {
		buf = AppendGatewayEvent(buf[:0], &own, 1, DefaultEnv)
		buf = appendCommonLog(buf[:0], &own)
		buf = appendJSONLog(buf[:0], &own)
	})
	if n != 0 {
		t.Fatalf("encoding allocates %v times per event", n)
	}
	s := NewSharedIDGen(1)
	if n := testing.AllocsPerRun(100, func() { s.Next(now) }); n != 0 {
		t.Fatalf("SharedIDGen allocates %v", n)
	}
}
