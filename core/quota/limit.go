package quota

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// The gateway-wide limiters of Otoroshi's global config, next to the API-key
// counters: Gateway for throttlingQuota, PerIP for perIpThrottlingQuota and
// InFlight for maxConcurrentRequests. Each lives in the proxy engine, outside
// any configuration snapshot, so a reload keeps its counts. All are safe for
// concurrent use by every event loop and never perform I/O.

// Gateway counts the calls of the whole gateway against one throttling
// quota. The zero value is ready; its counter is created on first use.
type Gateway struct {
	once   sync.Once
	c      *Counters
	slot   *Slot
	global *Counters // set by UseGlobal: counted cluster-wide (global_limits.go)
}

// Take counts one call against perSecond × 10 calls per ThrottleWindow;
// when refused (and not counted), it says how long until the window ends.
// Holds the slot's lock for a few tens of nanoseconds; no allocation after
// the first call.
func (g *Gateway) Take(perSecond int64, now time.Time) (bool, time.Duration) {
	g.once.Do(func() {
		if g.global != nil {
			g.c = g.global
			g.slot = g.c.Slot(GatewayKey)
			return
		}
		g.c = New(Options{Shards: 1})
		g.slot = g.c.Slot("gateway")
	})
	lim := Limits{Throttle: perSecond * int64(ThrottleWindow/time.Second), Daily: Unlimited, Monthly: Unlimited}
	ok, _, retry := g.c.TakeSlot(g.slot, lim, now)
	return ok, retry
}

// ipShards is the number of shards of a PerIP: a power of two above the
// usual number of event loops, so two loops rarely wait on one lock.
const ipShards = 16

// PerIP counts calls per client address, in the current throttling window
// only: a shard forgets its counts when the window turns, so memory is
// bounded by the addresses seen in one window, whatever the number of
// clients over time. The zero value is ready.
type PerIP struct {
	shards [ipShards]ipShard
	global *ipGlobal // set by UseGlobal: counted cluster-wide (global_limits.go)
}

type ipShard struct {
	mu  sync.Mutex
	win int64 // the window the counts are for (Unix ns / ThrottleWindow)
	m   map[netip.Addr]int64
	_   [cacheLine - unsafe.Sizeof(sync.Mutex{}) - 16]byte
}

// Take counts one call of a against perSecond × 10 calls per window and
// reports whether it is allowed; when refused, it says how long until the
// window ends. A refused call is not counted. It allocates only when an
// address is new in its shard's window and the map must grow.
func (l *PerIP) Take(a netip.Addr, perSecond int64, now time.Time) (bool, time.Duration) {
	limit := perSecond * int64(ThrottleWindow/time.Second)
	if l.global != nil {
		return l.takeGlobal(a, limit, now)
	}
	return l.takeLocal(a, limit, now)
}

// takeLocal is Take counting in this process only, against limit calls per
// window.
func (l *PerIP) takeLocal(a netip.Addr, limit int64, now time.Time) (bool, time.Duration) {
	ns := now.UnixNano()
	win := ns / int64(ThrottleWindow)
	b := a.As16()
	sh := &l.shards[xxhash.Sum64(b[:])&(ipShards-1)]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[netip.Addr]int64)
	}
	if win > sh.win {
		// A call stamped a little earlier by another loop (win < sh.win)
		// counts in the current window rather than resetting it.
		clear(sh.m)
		sh.win = win
	}
	n := sh.m[a] + 1
	ok := n <= limit
	if ok {
		sh.m[a] = n
	}
	end := (sh.win + 1) * int64(ThrottleWindow)
	sh.mu.Unlock()
	return ok, time.Duration(end - ns)
}

// InFlight counts the requests in flight across all event loops, on a
// cache line of its own: every loop writes it twice per request. The zero
// value is ready.
type InFlight struct {
	n        atomic.Int64
	rejected atomic.Uint64 // requests refused by the limit, ever
	_        [cacheLine - unsafe.Sizeof(atomic.Int64{}) - unsafe.Sizeof(atomic.Uint64{})]byte
}

// Enter counts one request in flight. With limited set, a request that would
// be the limit+1th in flight is refused, counted in Rejected and not in
// flight: one compare-and-swap loop instead of one add. It reports whether
// the request was counted; each counted request must Leave exactly once.
func (f *InFlight) Enter(limited bool, limit int64) bool {
	if !limited {
		f.n.Add(1)
		return true
	}
	for {
		cur := f.n.Load()
		if cur >= limit {
			f.rejected.Add(1)
			return false
		}
		if f.n.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}

// Leave releases one request counted by Enter.
func (f *InFlight) Leave() { f.n.Add(-1) }

// Count returns the requests in flight now.
func (f *InFlight) Count() int64 { return f.n.Load() }

// Rejected returns the requests Enter refused, ever.
func (f *InFlight) Rejected() uint64 { return f.rejected.Load() }
