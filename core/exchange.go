package core

import "github.com/panjf2000/gnet/v2"

// The end of an exchange. Whatever the outcome (the last response byte was
// written, the exchange turned into a tunnel, a gateway error was answered
// or cut the response short, the client left, a pump finished), one function
// ends it: endExchange. It releases the in-flight count (limits.go), reports
// the outcome to the target (the circuit breaker and the least-connections
// count), decides whether the upstream connection goes back to its pool and
// whether the client connection reads its next request, and records the
// event and the route's metrics with the bytes actually written. Its callers
// only carry the decision out, each with its own means: finishExchange,
// abortExchange and replyError on the loop, runPump on a pump goroutine
// (pump.go), startTunnel (tunnel.go) and onClientClose. The obs* hooks of
// observe.go only record.

// endKind is how an exchange ended.
type endKind uint8

const (
	endDone       endKind = iota // the last response byte was written
	endTunnel                    // a 101 or a 2xx to CONNECT: the connections now relay raw bytes
	endAnswered                  // a gateway error answered with its page, before any response byte
	endFailed                    // a gateway error after which the connections close, no page
	endClientGone                // the client left: the backend is not blamed
)

// exchangeEnd is what endExchange decided.
type exchangeEnd struct {
	poolUpstream bool   // the upstream connection is reusable: back to its pool
	keepClient   bool   // the client connection reads its next request
	page         []byte // endAnswered: the error page to write (see insertHeaders for its lifetime)
}

// endExchange ends cc's exchange with us (nil when none is attached) as
// how says; k is the gateway error of endAnswered, endFailed and
// endClientGone. It is idempotent: the in-flight count, the target's
// outcome and the event are each released, reported, recorded at most once
// per exchange, so a second call (a close nested in a failed write, say)
// only repeats the decision. For endAnswered it builds the page and records
// its length as written: gnet's Write takes all of it or closes the
// connection. It runs on cc's loop, or on the pump goroutine that owns cc
// (lp is then cc's loop, used only for its index; endAnswered is loop-only).
func (s *Server) endExchange(lp *loop, cc *clientConn, us *upstreamConn, how endKind, k errKind) exchangeEnd {
	s.leaveFlight(cc)
	s.endAttempt(cc, how == endDone || how == endTunnel, how == endClientGone)
	draining := s.draining.Load()
	var end exchangeEnd
	switch how {
	case endDone:
		end.poolUpstream = us != nil && us.keepAlive && cc.reqDone && !draining
		end.keepClient = cc.keepAlive && cc.reqDone && !draining
	case endAnswered:
		end.keepClient = cc.keepAlive && cc.reqDone && !draining
		page := errorPage(k, cc.wantsHTML, !end.keepClient)
		if k == errLoginRedirect {
			page = lp.loginRedirect(!end.keepClient)
		}
		if k == errPluginAnswer {
			page = lp.pluginAnswer(!end.keepClient)
		}
		end.page = lp.insertHeaders(cc, k, page)
	}
	o := &cc.obs
	if !o.active {
		return end
	}
	o.dataOut += int64(len(end.page))
	if how == endDone || how == endTunnel {
		s.obsEnd(lp, cc, s.nanos(), "", false)
		return end
	}
	info := &errorInfo[k]
	if !cc.respHead {
		o.status = uint16(info.status)
		if k == errPluginAnswer {
			o.status = uint16(cc.pol.answerStatus)
		}
	}
	cause := info.cause
	if k == errUpstreamTLS && cc.upReason != "" {
		cause = cc.upReason // the reason, in the event only
	}
	cc.upReason = ""
	s.obsEnd(lp, cc, s.nanos(), cause, true)
	return end
}

// endAttempt reports the outcome of the exchange's current attempt to its
// target and releases it: ok for a response, !ok for a failure; gone (the
// client left) releases without a report. Safe on the loop or on the pump
// goroutine that owns cc (Report and Release are safe from any goroutine).
func (s *Server) endAttempt(cc *clientConn, ok, gone bool) {
	if cc.target == nil {
		return
	}
	cc.target.Release()
	if !gone {
		cc.rt.Report(cc.target, ok, msDuration(s.now()-cc.began))
	}
	cc.target = nil
	cc.rt = nil
}

// finishExchange ends cc's exchange after the last response byte: the
// upstream goes back to the pool (or closes), the client reads its next
// request (or closes). On the loop.
func (lp *loop) finishExchange(cc *clientConn) {
	us := cc.up
	cc.up = nil
	end := lp.s.endExchange(lp, cc, us, endDone, 0)
	if us != nil {
		us.cc = nil
		if end.poolUpstream {
			lp.putIdle(us)
		} else {
			us.state = usClosing
			lp.closeConn(us.c)
		}
	}
	lp.releaseExchange(cc)
	if !end.keepClient {
		lp.closeClientAfterFlush(cc)
		return
	}
	cc.state = csHead
	lp.armClient(cc, tkIdle, lp.s.now()+lp.s.cfg.IdleTimeout.Milliseconds())
	if cc.c.InboundBuffered() > 0 {
		if act := lp.processClient(cc); act == gnet.Close {
			lp.closeConn(cc.c)
		}
	}
}

// abortExchange fails cc's exchange with k: the error page when no response
// byte was sent yet, then both connections close. On the loop.
func (lp *loop) abortExchange(cc *clientConn, k errKind) {
	lp.dropUpstream(cc)
	if cc.state == csClosed || cc.state == csPumped {
		lp.s.endExchange(lp, cc, nil, endFailed, k)
		return
	}
	if !cc.respHead {
		lp.replyError(cc, k, true)
		return
	}
	lp.s.endExchange(lp, cc, nil, endFailed, k)
	cc.state = csClosing
	lp.closeConn(cc.c)
}

// dropUpstream detaches cc's upstream connection from its exchange or
// failed attempt: a connection still dialing, or held by a pump, is
// abandoned (a dialed one goes to the pool if it ever connects), an
// established one is closed. On the loop.
func (lp *loop) dropUpstream(cc *clientConn) {
	us := cc.up
	cc.up = nil
	if us == nil {
		return
	}
	us.cc = nil
	if lp.dropHeld(us) {
		return
	}
	if us.state == usDialing || us.state == usPumped {
		us.abandoned = true
		return
	}
	us.state = usClosing
	lp.closeConn(us.c)
}

// replyError answers cc with the error page of k, before any response byte
// (a refusal, a malformed request, a failed backend call). The connection
// closes after it when closing is set, or when the exchange does not allow
// keep-alive (endExchange decides); otherwise the next request is read. On
// the loop.
func (lp *loop) replyError(cc *clientConn, k errKind, closing bool) {
	if closing {
		cc.keepAlive = false
	}
	lp.obsAnswer(cc, k)
	end := lp.s.endExchange(lp, cc, cc.up, endAnswered, k)
	lp.releaseExchange(cc) // no exchange goes on after an error page
	if !send(cc.c, end.page) {
		return // gnet closed cc; OnClose has run
	}
	if !end.keepClient {
		lp.closeClientAfterFlush(cc)
		return
	}
	cc.state = csHead
	lp.armClient(cc, tkIdle, lp.s.now()+lp.s.cfg.IdleTimeout.Milliseconds())
}

// closeClientAfterFlush closes cc once gnet has written its outbound buffer:
// gnet's own close drops what a non-blocking write cannot send at once.
func (lp *loop) closeClientAfterFlush(cc *clientConn) {
	cc.state = csClosing
	lp.wheel.disarm(&cc.t)
	if cc.c.OutboundBuffered() == 0 {
		lp.closeConn(cc.c)
		return
	}
	lp.armClient(cc, tkIdle, lp.s.now()+lp.s.cfg.IdleTimeout.Milliseconds())
	lp.watchFlush(cc)
}

// onClientClose runs when gnet closed a client connection (OnClose): its
// exchange, if any, ends with endClientGone and the struct is retired.
func (lp *loop) onClientClose(cc *clientConn) {
	if cc.state == csPumped {
		// Either gnet closed its copy of a socket a pump owns now (the
		// struct and the connection count stay with the pump), or the
		// client left while its exchange waited to move to a pump.
		if job := cc.pump; job != nil && job.clientIn {
			job.clientIn = false
			lp.pumpAbort(cc)
		}
		return
	}
	if cc.h2 == nil {
		lp.s.conns.Add(-1) // an HTTP/2 stream was never counted (h2StartStream)
	}
	prev := cc.state
	cc.state = csClosed
	lp.unlinkClient(cc)
	lp.wheel.disarm(&cc.t)
	if prev != csHead && prev != csClosing {
		lp.dropUpstream(cc)
	}
	// A client gone mid-exchange, if one was still going on.
	lp.s.endExchange(lp, cc, nil, endClientGone, errBadGateway)
	lp.freeClient(cc)
}
