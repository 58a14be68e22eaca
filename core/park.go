package core

import "sync/atomic"

// Parking: in cluster mode (quota.Counters.EnableGlobal) a call of a limited key (or a
// gateway-wide throttle) needs a lease of calls from Redis. When the key holds none, the quota
// answers quota.Pending and the request is parked instead of blocking the loop: its head stays
// unconsumed in the connection's inbound buffer, the policy step's effects are undone, and the
// quota's lease goroutine calls wake when the lease request ended (granted, refused or failed,
// bounded by the lease timeout). wake marks the token done and asks gnet to run the
// connection's OnTraffic again, which parses the head and runs the policy anew: it then finds
// the lease, or an answer (429 when the quota is exhausted, the fail mode while Redis is
// unreachable). Other requests of the same key may spend the lease first: a request parks
// again, at most maxParks times (each is one Redis round trip, well under a millisecond on a
// LAN); past that it is answered 429 with Retry-After 1.

// parkToken is one parked request's wake-up flag. It belongs to one parking: a connection that
// closed and was reused meanwhile has another token (or none), so a late wake does nothing.
type parkToken struct {
	done atomic.Bool
}

// park parks cc's request (see above). wait registers wake with the quota; it may call it at
// once. Runs on the loop; allocates the token and the wake closure (the slow path: a lease is
// on its way from Redis).
func (lp *loop) park(cc *clientConn, wait func(wake func())) {
	lp.s.leaveFlight(cc)
	if o := &cc.obs; o.rm != nil {
		o.rm.Abandon(lp.obs.index)
		o.rm = nil
	}
	cc.obs.active, cc.obs.routed = false, false
	t := &parkToken{}
	cc.park = t
	cc.parks++
	c := cc.c
	wait(func() {
		t.done.Store(true)
		_ = c.Wake(nil)
	})
}

// parkedWaiting reports whether cc's request is still parked; once woken it clears the park
// so that the head is parsed again. Runs on the loop.
func (lp *loop) parkedWaiting(cc *clientConn) bool {
	if cc.park == nil {
		return false
	}
	if !cc.park.done.Load() {
		return true
	}
	cc.park = nil
	return false
}

// maxParks bounds the parkings of one request (see above).
const maxParks = 16

// pending maps a quota answer to parking: ok false with quota.Pending parks cc's request
// (at most maxParks times per request) and returns errParked; past that it is a refusal.
func (lp *loop) pending(cc *clientConn, retry int, wait func(wake func())) errKind {
	if cc.parks >= maxParks {
		cc.pol.retryAfter = retry
		return errTooManyRequests
	}
	lp.park(cc, wait)
	return errParked
}
