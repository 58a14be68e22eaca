package core

import (
	"net/netip"
	"sync/atomic"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/core/upstls"
)

// Upstream pools. Each loop keeps its own idle keep-alive connections per
// target address (pools, below), used last-in first-out so that the warmest
// connection serves next, bounded by Config.PoolIdleLimit per address and
// Config.PoolIdleTimeout per connection (the connection's wheel timer). A
// pool is touched only on its loop: no lock. After a Publish, the loop's
// next tick closes the idle connections to addresses the new table no
// longer routes to (sweep); a busy one is closed instead of pooled when its
// exchange ends (put). Once a second the loop publishes its pool sizes for
// the gauges (publishStats); the /metrics goroutine only loads them.

// pools is one loop's upstream pools and what it needs to keep them.
type pools struct {
	m map[poolKey]*hostPool

	// swept is the snapshot whose removed targets' pools were last closed;
	// live is its route table.
	swept *Snapshot
	live  *route.Table

	gauge   poolGauge
	statsAt int64 // ms of the last published statistics
}

// hostPool is one loop's idle keep-alive connections to one target address.
type hostPool struct {
	addr netip.AddrPort
	idle []*upstreamConn
}

func (p *pools) init() { p.m = make(map[poolKey]*hostPool) }

// poolKey identifies a pool: the target address and, for a TLS target, its TLS profile id (0
// for plaintext), so that TLS and plaintext connections to one address never mix, nor two TLS
// configurations (client certificate, trust) to one address.
//
// h2 sets apart the socketpairs bridged to an HTTP/2 target (core/h2up) from HTTP/1.1
// connections to the same address.
type poolKey struct {
	addr netip.AddrPort
	tls  uint32
	h2   bool
}

func keyOf(addr netip.AddrPort, p *upstls.Profile, h2 bool) poolKey {
	if p == nil {
		return poolKey{addr: addr, h2: h2}
	}
	return poolKey{addr: addr, tls: p.ID, h2: h2}
}

// pop takes the most recently parked connection of hp, or nil.
func (hp *hostPool) pop() *upstreamConn {
	us, _ := popFree(&hp.idle)
	return us
}

// takeIdle returns an idle pooled connection to up, marked active and
// reused, or nil. On the loop.
func (lp *loop) takeIdle(up *route.Upstream) *upstreamConn {
	hp := lp.pools.m[keyOf(up.Addr, up.TLS, up.H2)]
	if hp == nil {
		return nil
	}
	us := hp.pop()
	if us == nil {
		return nil
	}
	lp.wheel.disarm(&us.t)
	us.state = usActive
	us.reused = true
	return us
}

// putIdle parks us in its pool, or closes it when the pool is full, the
// server is draining or the current table no longer routes to its address.
// On the loop.
func (lp *loop) putIdle(us *upstreamConn) {
	k := keyOf(us.addr, us.prof, us.h2)
	hp := lp.pools.m[k]
	if hp == nil {
		hp = &hostPool{addr: us.addr}
		lp.pools.m[k] = hp
	}
	if len(hp.idle) >= lp.s.cfg.PoolIdleLimit || lp.s.draining.Load() || !lp.addrLive(us.addr) {
		us.state = usClosing
		lp.closeConn(us.c)
		return
	}
	us.state = usIdle
	us.cc = nil
	hp.idle = append(hp.idle, us)
	lp.wheel.arm(&us.t, lp.s.now()+lp.s.cfg.PoolIdleTimeout.Milliseconds())
}

// removeIdle takes us out of its pool if it is there (its timer fired, or
// the backend closed it).
func (lp *loop) removeIdle(us *upstreamConn) {
	hp := lp.pools.m[keyOf(us.addr, us.prof, us.h2)]
	if hp == nil {
		return
	}
	for i, x := range hp.idle {
		if x == us {
			copy(hp.idle[i:], hp.idle[i+1:])
			hp.idle[len(hp.idle)-1] = nil
			hp.idle = hp.idle[:len(hp.idle)-1]
			return
		}
	}
}

// closePool closes every idle connection of hp.
func (lp *loop) closePool(hp *hostPool) {
	for us := hp.pop(); us != nil; us = hp.pop() {
		us.state = usClosing
		lp.closeConn(us.c)
	}
}

// drainPools closes every idle pooled connection: a graceful shutdown.
func (lp *loop) drainPools() {
	for _, hp := range lp.pools.m {
		lp.closePool(hp)
	}
}

// sweepPools closes, at the first tick after a publish, the idle pooled
// connections to addresses the new table no longer has, and forgets their
// pools. Connections still serving an exchange finish it and are closed
// instead of pooled (see addrLive). Runs on the loop.
func (lp *loop) sweepPools() {
	snap := lp.s.snap.Load()
	p := &lp.pools
	if snap == p.swept {
		return
	}
	p.swept = snap
	p.live = nil
	if snap != nil {
		p.live = snap.Routes
	}
	for k, hp := range p.m {
		if lp.addrLive(k.addr) {
			continue
		}
		lp.closePool(hp)
		delete(p.m, k)
	}
}

// addrLive reports whether the table seen at the last sweep still routes to
// addr (true before the first sweep). Runs on the loop; no allocation.
func (lp *loop) addrLive(addr netip.AddrPort) bool {
	if lp.pools.swept == nil {
		return true
	}
	return lp.pools.live.HasAddr(addr)
}

// poolStat is one target's upstream connections on one loop.
type poolStat struct {
	addr       netip.AddrPort
	size, idle int
}

// poolStatsEvery is how often (ms) a loop publishes its pool statistics for
// the gauges.
const poolStatsEvery = 1000

// poolGauge is a loop's last published pool statistics. The loop builds a
// fresh slice every poolStatsEvery and stores it; the goroutine writing
// /metrics only loads it, so loop state is never read off the loop.
type poolGauge struct {
	stats atomic.Pointer[[]poolStat]
	busy  map[netip.AddrPort]int // scratch of the loop
}

// publishPoolStats publishes the loop's pool statistics when they are due
// (with Config.Metrics). On the loop, at its tick; one small allocation per
// second per loop.
func (lp *loop) publishPoolStats(now int64) {
	p := &lp.pools
	if lp.s.obs.set == nil || now-p.statsAt < poolStatsEvery {
		return
	}
	p.statsAt = now
	g := &p.gauge
	if g.busy == nil {
		g.busy = make(map[netip.AddrPort]int)
	}
	clear(g.busy)
	if lp.clients != nil {
		for cc := lp.clients.next; cc != lp.clients; cc = cc.next {
			if us := cc.up; us != nil && us.state != usClosing {
				g.busy[us.addr]++
			}
		}
	}
	stats := make([]poolStat, 0, len(p.m)+len(g.busy))
	for _, hp := range p.m {
		stats = append(stats, poolStat{addr: hp.addr, idle: len(hp.idle)})
	}
	// Busy connections are counted per address (TLS and plaintext pools of one address add up
	// in emitPoolStats).
	for addr, n := range g.busy {
		stats = append(stats, poolStat{addr: addr, size: n})
	}
	for i := range stats {
		stats[i].size += stats[i].idle
	}
	g.stats.Store(&stats)
}

// emitPoolStats sums the last published statistics of every loop per target
// and emits them. Safe from any goroutine (the /metrics handler).
func (s *Server) emitPoolStats(emit func(target string, size, idle int)) {
	sum := map[netip.AddrPort]poolStat{}
	var order []netip.AddrPort
	for _, lp := range *s.loopList.Load() {
		st := lp.pools.gauge.stats.Load()
		if st == nil {
			continue
		}
		for _, x := range *st {
			cur, ok := sum[x.addr]
			if !ok {
				order = append(order, x.addr)
			}
			cur.size += x.size
			cur.idle += x.idle
			sum[x.addr] = cur
		}
	}
	for _, a := range order {
		emit(a.String(), sum[a].size, sum[a].idle)
	}
}
