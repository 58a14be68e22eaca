package core

// startTunnel switches cc and us to relaying raw bytes both ways after a 101
// response: an upgraded connection (WebSocket) is no longer HTTP. The relay
// stays on the loop while both peers keep up; past the high-water mark it
// moves to a pump like any exchange.
func (lp *loop) startTunnel(cc *clientConn, us *upstreamConn) {
	cc.state = csTunnel
	us.state = usTunnel
	cc.keepAlive = false
	lp.wheel.disarm(&cc.t)
	cc.tk = tkNone
	lp.s.endExchange(lp, cc, us, endTunnel, 0)
	lp.relayTunnel(cc, us, false)
	if cc.state == csTunnel && us.state == usTunnel {
		lp.relayTunnel(cc, us, true)
	}
}

// relayTunnel copies what one side of a tunnel has buffered to the other.
func (lp *loop) relayTunnel(cc *clientConn, us *upstreamConn, fromClient bool) {
	from, to := us.c, cc.c
	if fromClient {
		from, to = cc.c, us.c
	}
	if b, _ := from.Peek(-1); len(b) > 0 {
		if !send(to, b) {
			return // the other side is gone; its OnClose closed this one
		}
		_, _ = from.Discard(len(b))
	}
	if to.OutboundBuffered() > lp.s.cfg.HighWater {
		if !cc.virtual() {
			lp.beginPump(cc, us, pumpTunnel)
			return
		}
		// A TLS client on the loop has no socket to pump: its tunnel stays
		// here, cut off when a side falls this far behind (tlsloop.go).
		if to.OutboundBuffered() > lp.maxWaiting() {
			lp.s.log.Debug("tunnel peer too far behind", "buffered", to.OutboundBuffered())
			lp.closeConn(us.c)
			lp.closeConn(cc.c)
		}
	}
}
