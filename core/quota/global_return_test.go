package quota

import (
	"context"
	"testing"
	"time"
)

// fixedLeft grants every call asked for and says left calls remain in each window.
type fixedLeft struct{ left int64 }

func (s fixedLeft) Lease(_ context.Context, reqs []LeaseRequest, out []LeaseGrant) error {
	for i, r := range reqs {
		out[i] = LeaseGrant{Granted: r.Want, Left: Remaining{Throttle: s.left, Daily: s.left, Monthly: s.left}}
	}
	return nil
}
func (fixedLeft) Return(context.Context, []LeaseReturn) error { return nil }
func (fixedLeft) Ping(context.Context) error                  { return nil }

// A node holding the unspent lease of a key the source has little left of gives it back after
// one sweep of idleness, not after idleReturn: the other nodes, refused at the end of a burst,
// get those calls at their next ask. A key with plenty left keeps the one-second rule.
func TestScarceLeaseReturnedSooner(t *testing.T) {
	for _, c := range []struct {
		name   string
		left   int64
		sooner bool
	}{{"scarce", 5, true}, {"plenty", 1 << 30, false}} {
		t.Run(c.name, func(t *testing.T) {
			q := New(Options{})
			q.EnableGlobal(fixedLeft{c.left}, GlobalOptions{Nodes: func() int { return 3 }})
			g := q.global
			lim := Limits{Throttle: Unlimited, Daily: 1_000_000, Monthly: Unlimited}
			now := time.Now()
			// Take until the node holds a lease with calls unspent (serving the lease requests
			// by hand: no lease goroutine, so no timing).
			for range 100 {
				ok, _, retry := q.Take("k", lim, now)
				if retry == Pending || (ok && len(g.queue) > 0) {
					g.serve([]*Slot{<-g.queue})
				}
			}
			if held := q.GlobalStats().Held; held == 0 {
				t.Fatal("no lease held after 100 calls")
			}
			t.Logf("held %d", q.GlobalStats().Held)
			g.sweep(now.Add(scarceIdleReturn+time.Millisecond), false)
			returned := q.GlobalStats().Returned
			if (returned > 0) != c.sooner {
				t.Fatalf("after %v idle: %d calls returned; want returned: %v", scarceIdleReturn, returned, c.sooner)
			}
			g.sweep(now.Add(idleReturn+time.Millisecond), false)
			if q.GlobalStats().Held != 0 {
				t.Fatalf("lease still held after %v idle", idleReturn)
			}
		})
	}
}
