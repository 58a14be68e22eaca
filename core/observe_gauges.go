package core

import (
	"github.com/torii-gateway/torii/core/route"
)

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
	set.RegisterUpstreamPools(s.emitPoolStats)
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
