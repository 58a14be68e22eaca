package core

import (
	"context"

	"github.com/panjf2000/gnet/v2"
)

// Response backpressure for HTTP/2 streams. An HTTP/1.1 exchange whose
// client reads slowly moves to a pump goroutine (pump.go); a stream has no
// socket of its own to pump to, and gnet reads every socket it polls into
// memory. So when a stream holds more than HighWater of response DATA that
// its client's windows (or socket) do not take, the backend's socket is
// taken off the loop (detached like a pump's, but no goroutine reads it):
// the kernel's buffers fill and TCP flow control pushes back on the
// backend. The HTTP/2 connection's timer enrolls it back once the stream's
// DATA has drained below HighWater/2; the exchange then goes on where it
// stopped (reattachUpstream, the bytes gnet had read carried over).

// holdUpstream takes us, the backend connection of HTTP/2 stream cc's
// exchange, off the loop. It reports false when it could not (bytes still
// queued towards the backend, or the socket could not be duplicated): the
// DATA then keeps waiting in the stream. In us's callback.
func (lp *loop) holdUpstream(cc *clientConn, us *upstreamConn) bool {
	if us.c.OutboundBuffered() > 0 || (cc.h2 == nil || cc.h2.hc == nil) && cc.tl == nil {
		return false
	}
	tc, carry, err := detachConn(us.c)
	if err != nil {
		lp.s.log.Debug("cannot hold backend connection", "err", err)
		return false
	}
	us.carry = joinCarry(us.carry, carry)
	us.held = tc
	us.state = usPumped // gnet's OnClose for its copy leaves the struct alone
	lp.closeConn(us.c)
	lp.s.h2Held.Add(1)
	if cc.tl != nil {
		lp.watchTLS(cc.tl) // the tick releases it (tlsloop.go)
	} else {
		cc.h2.hc.kick()
	}
	return true
}

// releaseHeld enrolls the held backend connection of cc's exchange back
// into the loop (a goroutine waits for gnet's answer); OnOpen then resumes
// the exchange (onUpstreamOpen, reattachUpstream). On the loop, from the
// HTTP/2 connection's timer.
func (lp *loop) releaseHeld(cc *clientConn) {
	us := cc.up
	tc := us.held
	us.held = nil
	go func() {
		if lp.s.enroll(lp, us, tc) {
			return
		}
		_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			if cc.up == us && us.state == usPumped {
				cc.up = nil
				us.state = usClosing
				lp.freeUpstream(us)
				lp.abortExchange(cc, errBadGateway)
			}
			return nil
		}))
	}()
}

// dropHeld closes the held backend connection of an exchange that ended
// (the stream was reset, the client left). It reports whether us was held.
//
// When the exchange ends in the very callback of us that held it (a write
// to the client failed at its end, flushing the frames the response
// produced), gnet's copy of us's socket is only closed when that callback
// returns (closeConn): its OnClose, still to come, frees us then, finding
// it closing. Freeing it here as well would recycle us twice, two later
// exchanges then sharing it.
func (lp *loop) dropHeld(us *upstreamConn) bool {
	if us.held == nil {
		return false
	}
	_ = us.held.Close()
	us.held = nil
	us.state = usClosing
	if lp.closeCur && us.c == lp.cur {
		return true // onUpstreamClose frees us
	}
	lp.freeUpstream(us)
	return true
}

// releaseDrained enrolls back the held backends of hc's streams whose DATA
// has drained; it reports whether a stream still holds one.
func (lp *loop) releaseDrained(hc *h2conn) bool {
	holding := false
	for _, st := range hc.streams {
		cc := st.cc
		if cc == nil || cc.up == nil || cc.up.held == nil {
			continue
		}
		if len(st.pending) < lp.s.cfg.HighWater/2 {
			lp.releaseHeld(cc)
			continue
		}
		holding = true
	}
	return holding
}
