package core

import "testing"

// BenchmarkInFlightCount is the cost the gateway-wide count adds to each
// request: enterFlight then leaveFlight, from every core at once (the
// counter's cache line moves between them), without the limit (one add each
// way) and with it (a compare-and-swap in), against the same loop with the
// count left out ("baseline") in the same run.
//
//	go test -run '^$' -bench InFlightCount ./core/
func BenchmarkInFlightCount(b *testing.B) {
	s := &Server{}
	f := func(name string, g *Global, count bool) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				lp := &loop{s: s}
				cc := &clientConn{}
				for pb.Next() {
					if !count {
						cc.inFlight = true
						cc.inFlight = false
						continue
					}
					if _, ok := lp.enterFlight(cc, g); !ok {
						panic("BUG: refused under the limit")
					}
					s.leaveFlight(cc)
				}
			})
		})
	}
	f("baseline", nil, false)
	f("count", nil, true)
	f("limit", &Global{LimitConcurrentRequests: true, MaxConcurrentRequests: 1 << 30}, true)
}
