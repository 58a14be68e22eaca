package core

import (
	"time"

	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/quota"
)

// The gateway-wide limits of Global, applied to every routed request before
// the route's own steps (policy.go calls throttle and enterFlight). The
// counters themselves are package quota's (Gateway, PerIP, InFlight), next
// to the API-key counters; the Server holds one of each in limits, outside
// any snapshot, so a reload keeps the counts.
//
// Gateway-wide concurrency (Otoroshi's limitConcurrentRequests and
// maxConcurrentRequests). Every routed request is counted in flight from its
// policy step to the end of its exchange, across all loops: one atomic add
// (or, with the limit on, one compare-and-swap) when it starts and one add
// when it ends. With Global.LimitConcurrentRequests, a request that would be
// the MaxConcurrentRequests+1th in flight is answered at once 429
// errors.cant.process.more.request and never counted, so at most
// MaxConcurrentRequests requests ever reach the backends together. The
// count is released exactly once per counted request (clientConn.inFlight
// says whether it holds one), by endExchange (exchange.go), whatever the
// outcome; a request parked for a quota lease (park.go) gives it back and
// takes it again when its policy step runs anew. Retries keep the count: one request is in flight however many
// targets it tries.

// serverLimits are the Server's gateway-wide counters.
type serverLimits struct {
	gateway quota.Gateway  // Global.ThrottlingQuota
	perIP   quota.PerIP    // Global.PerIPThrottlingQuota
	flight  quota.InFlight // Global.MaxConcurrentRequests
}

// Metric names of the gateway-wide concurrency.
const (
	famGatewayInFlight    = "torii_gateway_requests_in_flight"
	famConcurrentRejected = "torii_concurrent_requests_rejected_total"
)

// throttle applies g's gateway-wide and per-address throttling quotas to
// cc's request parsed from buf. When one refuses, it sets cc.pol.retryAfter
// and returns errTooManyRequests. Runs on the loop; buf is only read; no
// allocation for an address already seen in the window.
func (lp *loop) throttle(cc *clientConn, g *Global, buf []byte) (errKind, bool) {
	if g.ThrottlingQuota > 0 && g.ThrottlingQuota < quota.Unlimited {
		if ok, retry := lp.s.limits.gateway.Take(g.ThrottlingQuota, time.Now()); !ok {
			if retry == quota.Pending {
				q := lp.s.cfg.Quotas
				return lp.pending(cc, 1, func(wake func()) { q.Wait(quota.GatewayKey, wake) }), false
			}
			cc.pol.retryAfter = retrySeconds(retry)
			return errTooManyRequests, false
		}
	}
	if g.PerIPThrottlingQuota > 0 && g.PerIPThrottlingQuota < quota.Unlimited {
		addr := clientAddr(cc, g, buf)
		if ok, retry := lp.s.limits.perIP.Take(addr, g.PerIPThrottlingQuota, time.Now()); !ok {
			if retry == quota.Pending {
				ip := &lp.s.limits.perIP
				return lp.pending(cc, 1, func(wake func()) { ip.Wait(addr, wake) }), false
			}
			cc.pol.retryAfter = retrySeconds(retry)
			return errTooManyRequests, false
		}
	}
	return 0, true
}

// retrySeconds rounds a Retry-After duration up to whole seconds.
func retrySeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// enterFlight counts cc's request in flight, or refuses it with
// errCantProcessMore when g limits the concurrent requests and the limit is
// reached. Runs on the loop; no allocation.
func (lp *loop) enterFlight(cc *clientConn, g *Global) (errKind, bool) {
	limited := g != nil && g.LimitConcurrentRequests
	var limit int64
	if limited {
		limit = g.MaxConcurrentRequests
	}
	if !lp.s.limits.flight.Enter(limited, limit) {
		return errCantProcessMore, false
	}
	cc.inFlight = true
	return 0, true
}

// leaveFlight releases the count cc's request holds, if any. On cc's loop,
// or on the pump goroutine that owns cc.
func (s *Server) leaveFlight(cc *clientConn) {
	if cc.inFlight {
		cc.inFlight = false
		s.limits.flight.Leave()
	}
}

// InFlight returns the number of requests in flight across all loops (see
// Global.LimitConcurrentRequests). Safe from any goroutine.
func (s *Server) InFlight() int64 { return s.limits.flight.Count() }

// registerFlightMetrics registers the gauge of requests in flight and the
// counter of requests refused by the concurrency limit in set.
func (s *Server) registerFlightMetrics(set *metric.Set) {
	set.GaugeFunc(famGatewayInFlight, func() float64 { return float64(s.limits.flight.Count()) })
	set.CounterFunc(famConcurrentRejected, func() uint64 { return s.limits.flight.Rejected() })
	// The per-address throttle's slots in cluster mode (0 when standalone).
	metric.Describe("torii_quota_ip_slots", "Client addresses holding a cluster-wide per-IP throttling slot (cluster workers; 0 otherwise).")
	metric.Describe("torii_quota_ip_slots_evicted_total", "Per-IP throttling slots dropped after a whole idle window (cluster workers).")
	metric.Describe("torii_quota_ip_slot_overflows_total", "Per-IP throttled calls counted locally because the cluster-wide slots were full (quota.MaxIPSlots).")
	set.GaugeFunc("torii_quota_ip_slots", func() float64 { return float64(s.limits.perIP.SlotStats().Slots) })
	set.CounterFunc("torii_quota_ip_slots_evicted_total", func() uint64 { return s.limits.perIP.SlotStats().Evicted })
	set.CounterFunc("torii_quota_ip_slot_overflows_total", func() uint64 { return s.limits.perIP.SlotStats().Overflows })
}
