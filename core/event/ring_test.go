package event

import (
	"sync"
	"testing"
)

// TestRingFullDrops: with no consumer running, a ring of 8 takes 8 records
// and counts every further one as a drop; once drained, it takes more.
func TestRingFullDrops(t *testing.T) {
	h := NewHub(Options{Loops: 2, RingSize: 5}) // rounded up to 8; Run not started: the exporter side is blocked
	r := h.Ring(3)                              // 3 mod 2 = ring 1
	if r != h.Ring(1) {
		t.Fatalf("Ring does not wrap modulo the loop count")
	}
	accepted := 0
	for i := range 100 {
		if rec := r.Reserve(); rec != nil {
			rec.ReqID = uint64(i)
			r.Commit()
			accepted++
		}
	}
	if accepted != 8 || r.Drops() != 92 || r.Len() != 8 {
		t.Fatalf("accepted %d drops %d len %d", accepted, r.Drops(), r.Len())
	}
	if st := h.Stats(); st.RingDrops != 92 || st.Pending != 8 {
		t.Fatalf("stats %+v", st)
	}
	var got []uint64
	r.drain(3, func(rec *Record) { got = append(got, rec.ReqID) })
	if len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("drained %v", got)
	}
	for range 3 {
		if r.Reserve() == nil {
			t.Fatalf("no room after draining")
		}
		r.Commit()
	}
	if r.Reserve() != nil || r.Drops() != 93 {
		t.Fatalf("ring not full again: drops %d", r.Drops())
	}
	// Reserve without Commit reuses the slot; Commit without Reserve is a no-op.
	r.drain(100, func(*Record) {})
	a := r.Reserve()
	b := r.Reserve()
	r.Commit()
	r.Commit()
	if a != b || r.Len() != 1 {
		t.Fatalf("reserve/commit pairing: same slot %v len %d", a == b, r.Len())
	}
}

// TestRingSPSC runs a producer and a consumer concurrently (meaningful under
// -race) and checks order and accounting.
func TestRingSPSC(t *testing.T) {
	r := newRing(16, false)
	const n = 20000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := uint64(1); i <= n; i++ {
			if rec := r.Reserve(); rec != nil {
				rec.ReqID = i
				r.Commit()
			}
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
