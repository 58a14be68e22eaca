package core

import (
	"sync/atomic"
	"unsafe"

	"github.com/torii-gateway/torii/core/metric"
)

// Gateway-wide concurrency (Otoroshi's limitConcurrentRequests and
// maxConcurrentRequests). Every routed request is counted in flight from its
// policy step to the end of its exchange, across all loops, in one atomic
// counter of the Server: one atomic add (or, with the limit on, one
// compare-and-swap) when it starts and one add when it ends. With
// Global.LimitConcurrentRequests, a request that would be the
// MaxConcurrentRequests+1th in flight is answered at once 429
// errors.cant.process.more.request and never counted, so at most
// MaxConcurrentRequests requests ever reach the backends together.
//
// The count is released exactly once per counted request (clientConn.inFlight
// says whether it holds one), at the same places the exchange's observation
// ends: obsDone (response complete, or a 101 that turned into a tunnel),
// obsFail (answered error, abort, timeout, backend failure, client gone, a
// pump that could not start), obsPumpEnd (a pumped download, or an upload
// that failed) and the pump's enroll failure. Retries keep the count: one
// request is in flight however many targets it tries.

// flightCount is the Server's count of requests in flight, on a cache line of
// its own: every loop writes it twice per request.
type flightCount struct {
	n        atomic.Int64
	rejected atomic.Uint64 // requests refused by the limit, ever
	_        [64 - unsafe.Sizeof(atomic.Int64{}) - unsafe.Sizeof(atomic.Uint64{})]byte
}

// Metric names of the gateway-wide concurrency.
const (
	famGatewayInFlight    = "torii_gateway_requests_in_flight"
	famConcurrentRejected = "torii_concurrent_requests_rejected_total"
)

// enterFlight counts cc's request in flight, or refuses it with
// errCantProcessMore when g limits the concurrent requests and the limit is
// reached. Runs on the loop; no allocation.
func (lp *loop) enterFlight(cc *clientConn, g *Global) (errKind, bool) {
	f := &lp.s.flight
	if g != nil && g.LimitConcurrentRequests {
		limit := g.MaxConcurrentRequests
		for {
			cur := f.n.Load()
			if cur >= limit {
				f.rejected.Add(1)
				return errCantProcessMore, false
			}
			if f.n.CompareAndSwap(cur, cur+1) {
				break
			}
		}
	} else {
		f.n.Add(1)
	}
	cc.inFlight = true
	return 0, true
}

// leaveFlight releases the count cc's request holds, if any. On cc's loop,
// or on the pump goroutine that owns cc.
func (s *Server) leaveFlight(cc *clientConn) {
	if cc.inFlight {
		cc.inFlight = false
		s.flight.n.Add(-1)
	}
}

// InFlight returns the number of requests in flight across all loops (see
// Global.LimitConcurrentRequests). Safe from any goroutine.
func (s *Server) InFlight() int64 { return s.flight.n.Load() }

// registerFlightMetrics registers the gauge of requests in flight and the
// counter of requests refused by the concurrency limit in set.
func (s *Server) registerFlightMetrics(set *metric.Set) {
	set.GaugeFunc(famGatewayInFlight, func() float64 { return float64(s.flight.n.Load()) })
	set.CounterFunc(famConcurrentRejected, func() uint64 { return s.flight.rejected.Load() })
}
