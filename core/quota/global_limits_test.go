package quota

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// grantAll is a lease source with no limit of its own: it grants at least 1<<20 calls a time. The
// tests below are about the slots of the per-address throttle, not about the cluster-wide
// count (cluster/redisquota tests that against redis-server).
type grantAll struct{}

func (grantAll) Lease(_ context.Context, reqs []LeaseRequest, out []LeaseGrant) error {
	for i, r := range reqs {
		out[i] = LeaseGrant{Granted: max(r.Want, 1<<20), Left: Remaining{Throttle: 1 << 20, Daily: 1 << 20, Monthly: 1 << 20}}
	}
	return nil
}
func (grantAll) Return(context.Context, []LeaseReturn) error { return nil }
func (grantAll) Ping(context.Context) error                  { return nil }

func globalPerIP(t *testing.T) (*Counters, *PerIP) {
	t.Helper()
	c := New(Options{})
	c.EnableGlobal(grantAll{}, GlobalOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.RunGlobal(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	l := &PerIP{}
	l.UseGlobal(c)
	return c, l
}

// takeWaiting is Take, waiting off the caller like the proxy does while it answers Pending.
func takeWaiting(t *testing.T, l *PerIP, a netip.Addr, perSecond int64, now time.Time) bool {
	t.Helper()
	for range 16 {
		ok, retry := l.Take(a, perSecond, now)
		if retry != Pending {
			return ok
		}
		woken := make(chan struct{})
		l.Wait(a, func() { close(woken) })
		select {
		case <-woken:
		case <-time.After(5 * time.Second):
			t.Fatalf("the lease of %v never came", a)
		}
	}
	t.Fatalf("%v: still pending after 16 waits", a)
	return false
}

func ipN(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

// slotsHeld counts the slots kept for addresses in cluster mode: those of l and any in c's
// own table (where they were kept before eviction existed).
func slotsHeld(c *Counters, l *PerIP) int {
	n := l.SlotStats().Slots
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// In cluster mode the per-address throttle forgets idle addresses: after 4 windows of 3000
// new addresses each, only the addresses of the last two windows hold a slot.
func TestPerIPGlobalEvictsIdleAddresses(t *testing.T) {
	c, l := globalPerIP(t)
	const perWindow, windows = 3000, 4
	t0 := time.Unix(0, 1_700_000_000*int64(time.Second)).Truncate(ThrottleWindow)
	for w := range windows {
		now := t0.Add(time.Duration(w) * ThrottleWindow)
		for i := range perWindow {
			if !takeWaiting(t, l, ipN(w*perWindow+i), 1, now.Add(time.Duration(i))) {
				t.Fatalf("window %d, address %d refused on its first call", w, i)
			}
		}
	}
	held := slotsHeld(c, l)
	st := l.SlotStats()
	t.Logf("%d addresses over %d windows: %d slots held, %d evicted", perWindow*windows, windows, held, st.Evicted)
	if held > 2*perWindow {
		t.Fatalf("%d slots held for %d addresses: idle addresses are never forgotten (want <= %d)", held, perWindow*windows, 2*perWindow)
	}
	// An evicted address starts afresh and is still throttled.
	a := ipN(0)
	now := t0.Add(windows * ThrottleWindow)
	for i := range 10 {
		if !takeWaiting(t, l, a, 1, now) {
			t.Fatalf("call %d of an evicted address refused", i+1)
		}
	}
	if takeWaiting(t, l, a, 1, now) {
		t.Fatal("11th call in the window admitted with perSecond 1 (10 per window)")
	}
}

// Past MaxIPSlots, new addresses count locally against their share and are reported.
func TestPerIPGlobalCap(t *testing.T) {
	_, l := globalPerIP(t)
	now := time.Unix(0, 1_700_000_000*int64(time.Second)).Truncate(ThrottleWindow)
	n := MaxIPSlots + MaxIPSlots/4
	for i := range n {
		l.Take(ipN(i), 1, now) // new addresses: Pending, their slot kept
	}
	st := l.SlotStats()
	if st.Slots > MaxIPSlots || st.Overflows == 0 {
		t.Fatalf("after %d addresses: %d slots (max %d), %d overflows", n, st.Slots, MaxIPSlots, st.Overflows)
	}
	// Find an address counted locally: its first call is answered at once.
	var a netip.Addr
	for i := n; ; i++ {
		before := l.SlotStats().Overflows
		ok, retry := l.Take(ipN(i), 1, now)
		if l.SlotStats().Overflows > before {
			if !ok || retry == Pending {
				t.Fatalf("overflowed address: ok %v retry %v", ok, retry)
			}
			a = ipN(i)
			break
		}
	}
	for i := 2; i <= 10; i++ {
		if ok, _ := l.Take(a, 1, now); !ok {
			t.Fatalf("local call %d refused", i)
		}
	}
	if ok, _ := l.Take(a, 1, now); ok {
		t.Fatal("11th local call admitted with perSecond 1")
	}
}

// A known address costs no allocation in cluster mode.
func TestPerIPGlobalNoAllocs(t *testing.T) {
	_, l := globalPerIP(t)
	a := netip.MustParseAddr("2001:db8::1")
	now := time.Now()
	if !takeWaiting(t, l, a, 100_000, now) {
		t.Fatal("first call refused")
	}
	if n := testing.AllocsPerRun(1000, func() { l.Take(a, 100_000, now) }); n != 0 {
		t.Fatalf("%v allocations per call of a known address", n)
	}
}

// BenchmarkPerIPGlobalTake: one call of a known address in cluster mode (lease held), over 256
// addresses.
func BenchmarkPerIPGlobalTake(b *testing.B) {
	c := New(Options{})
	c.EnableGlobal(grantAll{}, GlobalOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.RunGlobal(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	l := &PerIP{}
	l.UseGlobal(c)
	now := time.Now()
	addrs := make([]netip.Addr, 256)
	for i := range addrs {
		addrs[i] = ipN(i)
		for _, retry := l.Take(addrs[i], 100_000, now); retry == Pending; _, retry = l.Take(addrs[i], 100_000, now) {
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		l.Take(addrs[i&255], 100_000, now)
	}
}
