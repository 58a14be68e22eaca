package core

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

// Retries across targets. An attempt that fails before any response byte
// reached the proxy is retried on another target of the route, Pick skipping
// the targets already tried (PickInput.Tried) and those whose circuit is open
// or whose health check failed:
//
//   - always after a connect failure (refused, unreachable, connect timeout);
//   - for an idempotent method (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) when
//     the backend closed the connection or did not answer in time, as long
//     as no request body byte was sent (the body is not kept, so it cannot
//     be replayed).
//
// Attempts are bounded by the route's client.retries (MaxAttempts) and by the
// exchange's call deadline. Retry n waits retry_initial_delay ×
// backoff_factor^(n-1) ms on the loop's timing wheel (the client's own timer,
// kind tkRetry; a zero delay waits for the next tick): nothing sleeps. Each failed attempt is reported to the
// route (Compiled.Report) so that its circuit breaker sees it. When the
// attempts are spent, or no other target is usable, the client gets the error
// of the last attempt (502 or 504); a route with no usable target at all is
// answered 503 errors.circuit.breaker.open before any attempt.

// pickTarget picks a target of rt for cc's request, skipping those already
// tried (cc.pick.Tried, reset by the caller for a new request), and marks it
// tried. req and buf are the parsed request for hash-based balancing (nil on
// a retry: the request bytes are gone); they are not kept. On the loop; nil
// when no target is usable.
func (lp *loop) pickTarget(cc *clientConn, rt *route.Compiled, req *httpparse.Request, buf []byte) *route.Upstream {
	cc.pick.ClientIP = cc.remote
	cc.pick.Req, cc.pick.Buf = req, buf
	up, idx := pickFor(rt, cc.pol.canary, &cc.pick)
	cc.pick.Req, cc.pick.Buf = nil, nil
	if up != nil && idx >= 0 && idx < 64 {
		cc.pick.Tried |= 1 << uint(idx)
	}
	return up
}

// retryOrAbort handles the failure k of the current attempt of cc's
// exchange: another attempt when the route's retry policy allows it and a
// target is left, otherwise abortExchange with k. connectFailed says the
// connection to the target could not be established. cc.up, if still set,
// is the failed attempt's connection, which is dropped.
func (lp *loop) retryOrAbort(cc *clientConn, k errKind, connectFailed bool) {
	rt := cc.rt
	if rt == nil || cc.respHead || cc.bodySent || cc.state == csClosed || cc.state == csPumped ||
		!rt.ShouldRetry(cc.pol.attempts, cc.method, connectFailed, false) {
		lp.abortExchange(cc, k)
		return
	}
	now := lp.s.now()
	delay := rt.RetryDelay(cc.pol.attempts).Milliseconds()
	if now+delay >= cc.deadline {
		lp.abortExchange(cc, k)
		return
	}
	lp.dropUpstream(cc)
	lp.s.endAttempt(cc, false, false)
	// The request bytes are gone: hash-based balancing falls back to its
	// round-robin order, Sticky keeps the tracking id it was given.
	up := lp.pickTarget(cc, rt, nil, nil)
	if up == nil {
		lp.abortExchange(cc, k) // every target tried or unusable: the last error
		return
	}
	cc.pol.attempts++
	cc.rt = rt
	cc.target = up
	up.Acquire()
	lp.retargetHost(cc, up)
	lp.obsBackend(cc, up)
	cc.retried = false
	cc.state = csConnecting
	// Even without a delay the attempt starts from the wheel, at the next
	// tick: never nested inside the callback of the connection that failed.
	lp.armClient(cc, tkRetry, now+max(delay, 0))
}

// retryAttempt sends cc's request to the target retryOrAbort picked, once
// its backoff is over. Runs on the loop, from the wheel (outside any
// connection's callback).
func (lp *loop) retryAttempt(cc *clientConn) {
	up := cc.target
	if up == nil || cc.rt == nil {
		panic("BUG: retry without a target")
	}
	cc.began = lp.s.now()
	us := lp.takeIdle(up)
	if us == nil {
		lp.connect(cc) // onUpstreamOpen forwards the buffered body
		return
	}
	if lp.attach(cc, us) && cc.state == csBody && lp.inboundLen(cc) > 0 {
		// The body waiting in the client's buffer goes now: the client may
		// have sent all of it already and will not wake the loop again.
		if lp.processClient(cc) == gnet.Close {
			lp.closeConn(cc.c)
		}
	}
}
