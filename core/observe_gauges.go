package core

import (
	"net/netip"
	"sync/atomic"

	"github.com/torii-gateway/torii/core/route"
)

// poolGauge is a loop's last published pool statistics. The loop builds a
// fresh slice every poolStatsEvery and stores it; the goroutine writing
// /metrics only loads it, so loop state is never read off the loop.
type poolGauge struct {
	stats atomic.Pointer[[]poolStat]
	busy  map[netip.AddrPort]int // scratch of the loop
}

// obsTick publishes the loop's pool statistics when they are due. On the
// loop, at its tick; one small allocation per second per loop.
func (lp *loop) obsTick(now int64) {
	if lp.s.obs.set == nil || now-lp.obs.statsAt < poolStatsEvery {
		return
	}
	lp.obs.statsAt = now
	g := &lp.obs.pools
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
	stats := make([]poolStat, 0, len(lp.pools)+len(g.busy))
	for addr, p := range lp.pools {
		stats = append(stats, poolStat{addr: addr, size: len(p.idle) + g.busy[addr], idle: len(p.idle)})
	}
	for addr, n := range g.busy {
		if lp.pools[addr] == nil {
			stats = append(stats, poolStat{addr: addr, size: n})
		}
	}
	g.stats.Store(&stats)
}

// registerGauges registers the engine's connection gauges in the metric
// Set: open client connections, upstream pool size and idle connections per
// target (summed over loops, at most poolStatsEvery old), and the circuit
// breaker of every target of the current snapshot. One Server per Set: the
// names are registered once.
func (s *Server) registerGauges() {
	set := s.obs.set
	set.RegisterClientConnections(func() int64 { return s.conns.Load() })
	set.CounterFunc(famAcceptErrors, s.acc.errors.Load)
	s.registerFlightMetrics(set)
	set.RegisterUpstreamPools(func(emit func(target string, size, idle int)) {
		sum := map[netip.AddrPort]poolStat{}
		var order []netip.AddrPort
		for _, lp := range *s.loopList.Load() {
			p := lp.obs.pools.stats.Load()
			if p == nil {
				continue
			}
			for _, st := range *p {
				cur, ok := sum[st.addr]
				if !ok {
					order = append(order, st.addr)
				}
				cur.size += st.size
				cur.idle += st.idle
				sum[st.addr] = cur
			}
		}
		for _, a := range order {
			emit(a.String(), sum[a].size, sum[a].idle)
		}
	})
	set.RegisterCircuitBreakers(func(emit func(route, target string, open bool)) {
		snap := s.snap.Load()
		if snap == nil || snap.Routes == nil {
			return
		}
		for _, rt := range snap.Routes.Routes() {
			ups := rt.Upstreams()
			for i := range ups {
				st := ups[i].State()
				if st == nil {
					continue
				}
				emit(rt.ID, ups[i].ID, st.Circuit() != route.CircuitClosed)
			}
		}
	})
}
