package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/metric"
)

// TestRingFullDrops: with no consumer running, a ring of 8 takes 8 records
// and counts every further one as a drop; once drained, it takes more.
func TestRingFullDrops(t *testing.T) {
	set := metric.NewSet(2)
	set.ExposeProcessMetrics(false)
	h := NewHub(Options{Loops: 2, RingSize: 5, Metrics: set}) // rounded up to 8; Run not started: the exporter side is blocked
	r := h.Ring(3)                                            // 3 mod 2 = ring 1
	if r != h.Ring(1) {
		t.Fatalf("Ring does not wrap modulo the loop count")
	}
	accepted := 0
	rec := newRecord(r)
	for i := range 100 {
		rec.ReqID = uint64(i)
		if r.Push(rec) {
			accepted++
		}
	}
	if accepted != 8 || r.Drops() != 92 || r.Len() != 8 {
		t.Fatalf("accepted %d drops %d len %d", accepted, r.Drops(), r.Len())
	}
	if st := h.Stats(); st.RingDrops != 92 || st.Pending != 8 {
		t.Fatalf("stats %+v", st)
	}
	var text bytes.Buffer
	set.WritePrometheus(&text)
	if !strings.Contains(text.String(), "torii_events_dropped_total{stage=\"ring\"} 92\n") {
		t.Fatalf("ring drops not in metrics:\n%s", text.String())
	}
	var got []uint64
	r.drain(3, func(rec *Record) { got = append(got, rec.ReqID) })
	if len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("drained %v", got)
	}
	for range 3 {
		if !r.Push(rec) {
			t.Fatalf("no room after draining")
		}
	}
	if r.Push(rec) || r.Drops() != 93 {
		t.Fatalf("ring not full again: drops %d", r.Drops())
	}
}

// newRecord returns a Record reset for r, to fill and Push.
func newRecord(r *Ring) *Record {
	rec := new(Record)
	rec.Reset(r.CapturesHeaders())
	return rec
}

// TestRingSPSC runs a producer and a consumer concurrently (meaningful under
// -race) and checks order and accounting.
func TestRingSPSC(t *testing.T) {
	r := newRing(16, false)
	const n = 20000
	var wg sync.WaitGroup
	wg.Go(func() {
		rec := newRecord(r)
		for i := uint64(1); i <= n; i++ {
			rec.ReqID = i
			r.Push(rec)
		}
	})
	var got, last uint64
	stop := false
	for !stop {
		r.drain(64, func(rec *Record) {
			if rec.ReqID <= last {
				t.Errorf("out of order: %d after %d", rec.ReqID, last)
			}
			last = rec.ReqID
			got++
		})
		stop = got+r.Drops() == n
	}
	wg.Wait()
	if got+r.Drops() != n {
		t.Fatalf("got %d + drops %d != %d", got, r.Drops(), n)
	}
}

// TestRingPush: exchanges that overlap on one loop each fill their own
// Record and Push it when done; the event carries exactly that record.
func TestRingPush(t *testing.T) {
	r := newRing(2, true)
	var a, b Record
	a.Reset(r.CapturesHeaders())
	b.Reset(r.CapturesHeaders())
	in := newWire("Accept", "text/a")
	fillRecord(&a, 1, &in, nil)
	a.SetHost([]byte("a.example")) // a second host wins the span; bytes stay in the arena
	b.ReqID = 2
	b.SetHost([]byte("b.example"))
	if !r.Push(&b) || !r.Push(&a) {
		t.Fatalf("push refused on an empty ring")
	}
	if r.Push(&a) || r.Drops() != 1 {
		t.Fatalf("push on a full ring: drops %d", r.Drops())
	}
	a.Reset(true) // the owner reuses its record at once
	var got []string
	r.drain(10, func(rec *Record) {
		got = append(got, string(AppendGatewayEvent(nil, rec, 9, "x")))
	})
	if len(got) != 2 || !strings.Contains(got[0], `"reqId":"2"`) || !strings.Contains(got[0], `"host":"b.example"`) ||
		!strings.Contains(got[1], `"reqId":"1"`) || !strings.Contains(got[1], `"host":"a.example"`) ||
		!strings.Contains(got[1], `{"key":"Accept","value":"text/a"}`) || !strings.Contains(got[1], `"@serviceId":"route_1"`) {
		t.Fatalf("events:\n%s", strings.Join(got, "\n"))
	}
}

// TestPushShared: goroutines without a ring (pumps) record through the
// shared ring concurrently; every record is drained or counted as dropped.
func TestPushShared(t *testing.T) {
	out := &syncBuffer{}
	h := startHub(t, Options{Loops: 2, RingSize: 64, PollInterval: time.Millisecond, AccessLog: out, AccessLogFormat: AccessLogJSON})
	const workers, per = 4, 100
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var rec Record
			for i := range per {
				rec.Reset(false)
				fillRecord(&rec, uint64(w*per+i+1), nil, nil)
				h.PushShared(&rec)
			}
		})
	}
	wg.Wait()
	waitFor(t, "every record drained or dropped", func() bool {
		st := h.Stats()
		return st.Recorded+st.RingDrops == workers*per && st.Pending == 0
	})
	waitFor(t, "access log lines", func() bool { return uint64(len(out.lines())) == h.Stats().Recorded })
	seen := map[string]bool{}
	for _, l := range out.lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad line %q", l)
		}
		id := m["reqId"].(string)
		if seen[id] {
			t.Fatalf("record %s drained twice", id)
		}
		seen[id] = true
	}
}
