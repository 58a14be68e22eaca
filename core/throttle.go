package core

import (
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"

	"github.com/torii-gateway/torii/core/quota"
)

// ipShards is the number of shards of an ipLimiter: a power of two above the
// usual number of event loops, so two loops rarely wait on one lock.
const ipShards = 16

// ipLimiter counts calls per client address for Global.PerIPThrottlingQuota,
// in the current 10-second throttling window only: a shard forgets its
// counts when the window turns, so memory is bounded by the addresses seen in
// one window, whatever the number of clients over time. It lives in the
// Server, outside any snapshot. Safe for concurrent use.
type ipLimiter struct {
	shards [ipShards]ipShard
}

type ipShard struct {
	mu  sync.Mutex
	win int64 // the window the counts are for (Unix ns / ThrottleWindow)
	m   map[netip.Addr]int64
	_   [64 - unsafe.Sizeof(sync.Mutex{}) - 16]byte
}

// take counts one call of a against perSecond × 10 calls per window and
// reports whether it is allowed; when refused, it says how long until the
// window ends. A refused call is not counted. It allocates only when an
// address is new in its shard's window and the map must grow.
func (l *ipLimiter) take(a netip.Addr, perSecond int64, now time.Time) (bool, time.Duration) {
	ns := now.UnixNano()
	win := ns / int64(quota.ThrottleWindow)
	b := a.As16()
	sh := &l.shards[xxhash.Sum64(b[:])&(ipShards-1)]
	limit := perSecond * int64(quota.ThrottleWindow/time.Second)
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
	end := (sh.win + 1) * int64(quota.ThrottleWindow)
	sh.mu.Unlock()
	return ok, time.Duration(end - ns)
}
