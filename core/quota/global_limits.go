package quota

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// The gateway-wide throttles in cluster mode: with UseGlobal, Gateway and PerIP count in
// Counters with a global (EnableGlobal) under reserved client ids, so they spend Redis leases
// like API keys and the throttle holds for the whole cluster. Their Take may then answer
// Pending (see TakeSlot); the caller waits with Counters.Wait(GatewayKey) or PerIP.Wait(a).

// GatewayKey is the client id of the gateway-wide throttling count in cluster mode. It cannot
// collide with an API key: client ids never contain a space.
const GatewayKey = "torii gateway"

// IPKey is the client id of one address's throttling count in cluster mode. It allocates.
func IPKey(a netip.Addr) string { return "torii ip " + a.String() }

// UseGlobal makes g count in c, cluster-wide, when c has a global. Call it before the first
// Take.
func (g *Gateway) UseGlobal(c *Counters) {
	if c != nil && c.global != nil {
		g.global = c
	}
}

// UseGlobal makes l count in c, cluster-wide, when c has a global. Call it before the first
// Take.
func (l *PerIP) UseGlobal(c *Counters) {
	if c != nil && c.global != nil {
		l.global = &ipGlobal{c: c}
	}
}

// MaxIPSlots bounds the addresses a PerIP counts cluster-wide at once. An address seen when
// its shard is full counts in this process only, against its share of the limit (limit /
// nodes, as when Redis is down), and in SlotOverflows.
const MaxIPSlots = 1 << 16

// ipGlobal is the cluster-wide state of a PerIP: one slot of c per address, kept in shards
// of its own (not c's table), so that a slot goes away once its address is idle: a slot not
// called for a whole throttling window is evicted when its shard enters a new window. Memory
// is then bounded by the addresses seen in two windows, and by MaxIPSlots.
type ipGlobal struct {
	c         *Counters
	shards    [ipShards]ipSlots
	overflows atomic.Uint64
	evicted   atomic.Uint64
}

type ipSlots struct {
	mu  sync.Mutex // taken before a slot's lock, never after
	win int64      // the window of the last call (Unix ns / ThrottleWindow)
	m   map[netip.Addr]*Slot
	_   [cacheLine - unsafe.Sizeof(sync.Mutex{}) - 16]byte
}

// takeGlobal is Take in cluster mode: the address's slot spends leases like an API key. It
// allocates only for an address without a slot (the slot and its id).
func (l *PerIP) takeGlobal(a netip.Addr, limit int64, now time.Time) (bool, time.Duration) {
	g := l.global
	ns := now.UnixNano()
	win := ns / int64(ThrottleWindow)
	b := a.As16()
	sh := &g.shards[xxhash.Sum64(b[:])&(ipShards-1)]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[netip.Addr]*Slot)
	}
	if win > sh.win {
		g.evict(sh, (win-1)*int64(ThrottleWindow))
		sh.win = win
	}
	sl := sh.m[a]
	if sl == nil {
		if len(sh.m) >= MaxIPSlots/ipShards {
			sh.mu.Unlock()
			g.overflows.Add(1)
			return l.takeLocal(a, g.c.global.share(limit), now)
		}
		sl = g.c.newSlot(IPKey(a))
		sh.m[a] = sl
	}
	lim := Limits{Throttle: limit, Daily: Unlimited, Monthly: Unlimited}
	ok, _, retry := g.c.TakeSlot(sl, lim, now)
	sh.mu.Unlock()
	return ok, retry
}

// evict drops from sh the slots not called since before (Unix ns) that no request waits on.
// A lease they still hold stays with the lease goroutine, which returns it.
func (g *ipGlobal) evict(sh *ipSlots, before int64) {
	var n uint64
	for a, sl := range sh.m {
		sl.mu.Lock()
		l := leaseOf(sl)
		idle := l.touched < before && !l.pending && len(l.waiters) == 0
		sl.mu.Unlock()
		if idle {
			delete(sh.m, a)
			n++
		}
	}
	g.evicted.Add(n)
}

// Wait is Counters.Wait for the address a of a Take that answered Pending.
func (l *PerIP) Wait(a netip.Addr, wake func()) {
	g := l.global
	if g == nil {
		wake()
		return
	}
	b := a.As16()
	sh := &g.shards[xxhash.Sum64(b[:])&(ipShards-1)]
	sh.mu.Lock()
	sl := sh.m[a]
	sh.mu.Unlock()
	g.c.waitSlot(sl, wake)
}

// IPSlotStats are the counts of a PerIP in cluster mode (zero otherwise): Slots held now,
// Evicted ever, and Overflows, the calls of addresses counted locally because MaxIPSlots
// was reached.
type IPSlotStats struct {
	Slots              int
	Evicted, Overflows uint64
}

// SlotStats reports l's cluster-mode slot counts. Safe for concurrent use.
func (l *PerIP) SlotStats() IPSlotStats {
	g := l.global
	if g == nil {
		return IPSlotStats{}
	}
	var st IPSlotStats
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		st.Slots += len(sh.m)
		sh.mu.Unlock()
	}
	st.Evicted, st.Overflows = g.evicted.Load(), g.overflows.Load()
	return st
}

// Global reports whether c counts cluster-wide (EnableGlobal).
func (c *Counters) Global() bool { return c.global != nil }
