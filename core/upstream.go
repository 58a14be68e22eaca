package core

import (
	"errors"
	"net"
	"net/netip"

	"github.com/panjf2000/gnet/v2"

	"github.com/torii-gateway/torii/core/upstls"
	"github.com/torii-gateway/torii/httpparse"
)

// ustate is where an upstream connection is in its life.
type ustate uint8

const (
	usDialing   ustate = iota // a goroutine is connecting it
	usIdle                    // parked in its loop's pool
	usActive                  // serving cc's exchange
	usTunnel                  // relaying an upgraded connection
	usClosing                 // closed by us; OnClose only frees it
	usPumpWait                // waiting for its outbound buffer to drain before a pump takes it
	usPumped                  // handed over to a pump goroutine
	usReturning               // enrolled back into its loop by a pump, to be pooled
)

// outMode is how a response body is framed towards the client.
type outMode uint8

const (
	outNone    outMode = iota // no body
	outPass                   // bytes as they come: Content-Length, or chunked to an HTTP/1.1 client
	outDechunk                // chunked backend, HTTP/1.0 client: chunk data only, close at the end
	outChunk                  // backend framed by close, HTTP/1.1 client: encoded as chunks
	outRaw                    // backend framed by close, HTTP/1.0 client: raw, close at the end
	outGzip                   // GzipResponseCompressor: decoded, compressed and chunked by a pump (gzippump.go)
)

// upstreamConn is one connection to a backend target, owned by one loop and
// registered on it. Structs are recycled through the loop's free list.
type upstreamConn struct {
	c         gnet.Conn
	lp        *loop
	t         timer
	addr      netip.AddrPort
	prof      *upstls.Profile // TLS profile of a TLS target (the conn is a socketpair end); nil for plaintext
	h2        bool            // an HTTP/2 target: the conn is a socketpair end bridged by core/h2up
	state     ustate
	cc        *clientConn // the exchange served; nil when idle
	reused    bool        // taken from the pool for this exchange
	abandoned bool        // its exchange ended while it was dialing
	carry     []byte      // inbound bytes taken back from a pump, consumed before gnet's buffer
	held      pumpConn    // the socket, off the loop while its HTTP/2 stream drains (h2hold.go)

	// The response of the current exchange.
	resp      httpparse.Response
	hdr       [maxHeaders]httpparse.Header
	gotBytes  bool
	gotHead   bool
	keepAlive bool
	framing   httpparse.Framing
	out       outMode
	left      int64
	dec       httpparse.ChunkedDecoder
	gzipLevel int8 // compression level when out is outGzip
}

func (us *upstreamConn) expire(lp *loop, _ int64) {
	if us.state == usIdle {
		lp.removeIdle(us)
		us.state = usClosing
		lp.closeConn(us.c)
	}
}

func (us *upstreamConn) reset() {
	us.c = nil
	us.cc = nil
	us.abandoned = false
	us.carry = nil
	us.held = nil
	us.beginResponse()
}

func (us *upstreamConn) beginResponse() {
	us.gotBytes = false
	us.gotHead = false
	us.keepAlive = false
	us.out = outNone
	us.gzipLevel = 0
	us.left = 0
	us.dec.Reset()
}

func (lp *loop) onUpstreamOpen(us *upstreamConn, c gnet.Conn) gnet.Action {
	lp.enter(c)
	us.c = c
	switch {
	case us.state == usPumped:
		lp.reattachUpstream(us)
	case us.state == usReturning:
		us.cc = nil
		lp.putIdle(us)
	case us.abandoned || us.cc == nil:
		// The exchange gave up waiting; the connection is still good.
		us.abandoned = false
		us.cc = nil
		lp.putIdle(us)
	default:
		cc := us.cc
		if lp.attach(cc, us) && cc.state == csBody && lp.inboundLen(cc) > 0 {
			if lp.processClient(cc) == gnet.Close {
				lp.closeConn(cc.c)
			}
		}
	}
	return lp.leave(gnet.None)
}

func (lp *loop) onDialError(us *upstreamConn, err error) {
	cc := us.cc
	abandoned := us.abandoned
	us.state = usClosing
	lp.freeUpstream(us)
	if cc == nil || abandoned || cc.up != us {
		return
	}
	cc.up = nil
	k := errBadGateway
	var ne net.Error
	if reason := upstls.Reason(err); reason != "" {
		k = errUpstreamTLS
		cc.upReason = reason
	} else if errors.As(err, &ne) && ne.Timeout() {
		k = errTimeout
	}
	lp.s.log.Debug("cannot connect to backend", "addr", us.addr.String(), "err", err)
	lp.retryOrAbort(cc, k, true)
}

func (lp *loop) onUpstreamClose(us *upstreamConn) {
	switch us.state {
	case usIdle:
		lp.removeIdle(us)
	case usPumped:
		return // a pump owns the socket now
	case usActive, usTunnel, usPumpWait:
		if cc := us.cc; cc != nil && cc.up == us {
			lp.upstreamLost(cc, us)
		}
	}
	us.state = usClosing
	lp.freeUpstream(us)
}

// upstreamLost handles a backend that closed its connection mid-exchange.
func (lp *loop) upstreamLost(cc *clientConn, us *upstreamConn) {
	cc.up = nil
	us.cc = nil
	switch {
	case us.state == usTunnel:
		cc.state = csClosing
		lp.closeClientAfterFlush(cc)
	case us.state == usPumpWait:
		lp.pumpAbort(cc)
	case us.gotHead && us.framing == httpparse.FramingUntilClose:
		// The close is the end of the body.
		if us.out == outChunk && !send(cc.c, lastChunk) {
			return
		}
		lp.finishExchange(cc)
	case !us.gotBytes && us.reused && !cc.bodySent && !cc.retried:
		// A pooled connection the backend had closed before it saw the
		// request: retry once on a fresh connection.
		cc.retried = true
		lp.connect(cc)
	case !us.gotBytes && !cc.bodySent:
		// Nothing came back: another target may serve an idempotent request.
		lp.retryOrAbort(cc, errBadGateway, false)
	default:
		lp.abortExchange(cc, errBadGateway)
	}
}

var lastChunk = []byte("0\r\n\r\n")

// coalesceMax is the largest response body copied behind its head so that
// both leave in one write.
const coalesceMax = 16 << 10

// trafficUpstream is OnTraffic for upstream connection us: it relays what
// the backend sent to the client of us's exchange (processUpstream).
//
// Runs on us's loop, inside gnet's callback for us and only there. The
// returned action is for us.c (gnet.Close: an idle pooled connection that
// received bytes, or one whose exchange is gone). The exchange may have
// ended during the call (finishExchange, abortExchange, a pump taking
// over), and the client connection may have been closed: callers must not
// assume us.cc or its state afterwards. Bytes peeked from us.c live until
// their Discard or the end of the call; nothing derived from them is kept.
func (lp *loop) trafficUpstream(us *upstreamConn) gnet.Action {
	lp.enter(us.c)
	outer := lp.h2batch
	lp.h2batch = true
	act := lp.processUpstream(us)
	if !outer {
		// Frames the response produced for HTTP/2 clients leave now, while
		// us is still the current connection (h2conn.go, wantFlush).
		lp.h2batch = false
		lp.flushH2Dirty()
		lp.flushTLSDirty()
	}
	return lp.leave(act)
}

// processUpstream consumes what us's inbound buffer holds: the response head,
// then body bytes, relayed to the client of the exchange. Peeked bytes are
// used and discarded before it returns.
func (lp *loop) processUpstream(us *upstreamConn) gnet.Action {
	for {
		switch us.state {
		case usActive:
		case usTunnel:
			if us.cc != nil {
				lp.relayTunnel(us.cc, us, false)
			}
			return gnet.None
		case usPumpWait, usPumped:
			return gnet.None // kept for the pump
		case usIdle:
			if us.c.InboundBuffered() > 0 {
				return gnet.Close // bytes from an idle backend: the connection is unusable
			}
			return gnet.None
		default:
			return gnet.None // closing or closed: gnet's conn must not be touched
		}
		buf := lp.upInbound(us)
		if len(buf) == 0 {
			return gnet.None
		}
		cc := us.cc
		if cc == nil {
			return gnet.Close
		}
		us.gotBytes = true
		var more bool
		if !us.gotHead {
			more = lp.readResponseHead(us, cc, buf)
		} else {
			more = lp.relayBody(us, cc, buf)
		}
		if !more {
			return gnet.None
		}
	}
}

// readResponseHead parses the response head in buf and writes the rewritten
// head to the client; interim 1xx heads are relayed and skipped. A 101 (or
// a 2xx to CONNECT) starts a tunnel; a complete short body is written with
// the head; a body-less response finishes the exchange.
//
// Runs on the loop, in us's callback. buf is us's peeked inbound bytes: it
// is read during the call only and dies with the Discard of the consumed
// head. It returns true when processing may go on with the bytes left (a
// body, or the next head after a 1xx); false when it needs more bytes, or
// when the exchange is over or gone: a malformed head aborted it, a write
// failed (gnet closed the client and its OnClose tore the exchange down,
// us included), or a tunnel started. After false the caller must not touch
// cc or us's exchange state.
func (lp *loop) readResponseHead(us *upstreamConn, cc *clientConn, buf []byte) bool {
	us.resp.Headers = us.hdr[:0]
	n, err := httpparse.ParseResponse(buf, &us.resp, &lp.s.cfg.Limits)
	if err == httpparse.ErrNeedMore {
		return false
	}
	if err != nil {
		lp.s.log.Debug("malformed backend response", "addr", us.addr.String(), "err", err)
		lp.abortExchange(cc, errBadGateway)
		return false
	}
	status := us.resp.Status
	if status < 200 {
		if status == 101 {
			if !cc.upgrade || !answersWebSocket(&us.resp, buf) {
				lp.abortExchange(cc, errBadGateway)
				return false
			}
			lp.obsResponse(cc, us, buf)
			lp.scratch = lp.appendResponseHead(lp.scratch[:0], us, cc, buf, headUpgrade)
			if !send(cc.c, lp.scratch) {
				return false
			}
			lp.upConsume(us, n)
			cc.respHead = true
			lp.startTunnel(cc, us)
			return false
		}
		if !cc.http10 {
			lp.scratch = lp.appendResponseHead(lp.scratch[:0], us, cc, buf, headFinal)
			if !send(cc.c, lp.scratch) {
				return false
			}
		}
		lp.upConsume(us, n)
		return true
	}
	if cc.method == httpparse.MethodConnect && status < 300 {
		// The routed target accepted the tunnel: from now on, raw bytes.
		lp.obsResponse(cc, us, buf)
		lp.scratch = lp.appendResponseHead(lp.scratch[:0], us, cc, buf, headTunnel)
		if !send(cc.c, lp.scratch) {
			return false
		}
		lp.upConsume(us, n)
		cc.respHead = true
		lp.startTunnel(cc, us)
		return false
	}
	if cc.pol.chain.Checks(&cc.pol.px) && !cc.pol.chain.CheckResponse(&us.resp, buf, lp.pluginCtx(cc, cc.rt, nil), &cc.pol.px) {
		// OtoroshiChallenge: a backend that does not answer the state
		// (or answers it wrong) is not trusted with the client.
		lp.abortExchange(cc, errNotSecured)
		return false
	}
	us.framing = us.resp.BodyFraming(cc.method)
	us.keepAlive = us.resp.KeepAlive && us.framing != httpparse.FramingUntilClose
	switch us.framing {
	case httpparse.FramingNone:
		us.out = outNone
	case httpparse.FramingLength:
		us.out = outPass
		us.left = us.resp.ContentLength
	case httpparse.FramingChunked:
		us.out = outPass
		if cc.http10 {
			us.out = outDechunk
			cc.keepAlive = false
		}
	default:
		us.out = outChunk
		if cc.http10 {
			us.out = outRaw
			cc.keepAlive = false
		}
	}
	if !cc.reqDone || lp.s.draining.Load() {
		cc.keepAlive = false
	}
	// An HTTP/2 stream cannot move to the gzip pump: it gets gzip only when the
	// body is compressed on the loop (known length, small, all here).
	if cc.pol.chain != nil && !cc.http10 && (!cc.virtual() ||
		(us.framing == httpparse.FramingLength && us.left <= gzipInlineMax && int64(len(buf)-n) >= us.left)) {
		if level, ok := cc.pol.chain.Gzip(&cc.pol.px, &us.resp, buf, us.out == outNone); ok {
			us.out, us.gzipLevel = outGzip, int8(level)
		}
	}
	if us.framing == httpparse.FramingLength && !cc.responseLengthOK(us.resp.ContentLength) {
		lp.abortExchange(cc, errResponseTooLarge) // ResponseBodyLengthLimiter (bodylimit.go)
		return false
	}
	lp.obsResponse(cc, us, buf)
	lp.scratch = lp.appendResponseHead(lp.scratch[:0], us, cc, buf, headFinal)
	cc.respHead = true
	us.gotHead = true
	if us.framing == httpparse.FramingLength && us.out != outGzip && us.left <= coalesceMax && int64(len(buf)-n) >= us.left {
		// A small body that is all here goes out with the head: one write.
		lp.scratch = append(lp.scratch, buf[n:n+int(us.left)]...)
		n += int(us.left)
		us.left = 0
	}
	if us.out == outGzip && us.framing == httpparse.FramingLength && us.left <= gzipInlineMax && int64(len(buf)-n) >= us.left {
		// A small body that is all here is compressed on the loop (bounded
		// work, gzippump.go) and goes out with the head: one write.
		lp.scratch = appendGzipBody(lp.scratch, buf[n:n+int(us.left)], int(us.gzipLevel))
		n += int(us.left)
		us.left = 0
	}
	if !send(cc.c, lp.scratch) {
		return false
	}
	cc.obs.dataOut += int64(len(lp.scratch))
	lp.upConsume(us, n)
	if us.out == outNone || (us.framing == httpparse.FramingLength && us.left == 0) {
		lp.finishExchange(cc)
		return true
	}
	if us.out == outGzip {
		// Compression never runs on a loop: a pump decodes, compresses and
		// chunks the body (gzippump.go).
		lp.pumpDownload(cc, us)
		return false
	}
	lp.armExchange(cc, tkBackendIdle, cc.timeouts.idle)
	return true
}

// relayBody forwards response body bytes from buf to the client according to
// us.out, finishing the exchange at the end of the body, or handing it to a
// pump when the client's outbound buffer passes HighWater.
//
// Runs on the loop, in us's callback. buf is us's peeked inbound bytes, read
// during the call only; what was relayed is discarded before it returns, and
// gnet copies what it cannot send at once, so no byte of buf outlives it. It
// returns true when the body ended (the exchange finished: processUpstream
// then judges what is left on us by its new state) or when it consumed bytes
// and the exchange goes on; false when nothing was consumed, or when the exchange is over or gone: a
// malformed chunk aborted it, a write failed (the client is closed and its
// OnClose tore the exchange down), or a pump took it. After false the caller
// must not touch cc or us's exchange state.
func (lp *loop) relayBody(us *upstreamConn, cc *clientConn, buf []byte) bool {
	done := false
	var n int
	switch us.framing {
	case httpparse.FramingLength:
		n = len(buf)
		if int64(n) > us.left {
			n = int(us.left)
		}
		us.left -= int64(n)
		if !send(cc.c, buf[:n]) {
			return false
		}
		done = us.left == 0
	case httpparse.FramingChunked:
		start, cut := 0, 0 // cut: trailer bytes filtered out (trailer.go)
		for n < len(buf) {
			m, data, fin, err := us.dec.Decode(buf[n:])
			if err == httpparse.ErrNeedMore {
				break
			}
			if err != nil {
				lp.abortExchange(cc, errBadGateway)
				return false
			}
			if !lp.responseBody(cc, int64(data.Len())) {
				return false
			}
			if us.out == outDechunk && data.Len() > 0 && !send(cc.c, buf[n+int(data.Start):n+int(data.End)]) {
				return false
			}
			if fin && us.h2 {
				if g := grpcStatusInTrailer(buf[n : n+m]); g != 0 {
					cc.obs.grpc = g
				}
			}
			if fin && us.out == outPass {
				cut = m - filterTrailer(buf[n:n+m], true)
			}
			n += m
			if fin {
				done = true
				break
			}
		}
		if us.out == outPass && n > start && !send(cc.c, buf[start:n-cut]) {
			return false
		}
	default:
		n = len(buf)
		if !lp.responseBody(cc, int64(n)) {
			return false
		}
		ok := true
		if us.out == outChunk {
			lp.scratch = appendChunkSize(lp.scratch[:0], n)
			ok = send(cc.c, lp.scratch) && send(cc.c, buf) && send(cc.c, crlf)
		} else {
			ok = send(cc.c, buf)
		}
		if !ok {
			return false
		}
	}
	lp.upConsume(us, n)
	cc.obs.dataOut += int64(n)
	if done {
		lp.finishExchange(cc)
		return true
	}
	lp.armExchange(cc, tkBackendIdle, cc.timeouts.idle)
	if cc.c.OutboundBuffered() > lp.s.cfg.HighWater {
		if !cc.virtual() {
			lp.pumpDownload(cc, us)
			return false
		}
		if lp.holdUpstream(cc, us) { // an HTTP/2 stream or a TLS client on the loop (h2hold.go)
			return false
		}
	}
	return n > 0
}

var crlf = []byte("\r\n")

func appendChunkSize(dst []byte, n int) []byte {
	const hex = "0123456789abcdef"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = hex[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	dst = append(dst, tmp[i:]...)
	return append(dst, '\r', '\n')
}

// upInbound returns the bytes available from us (see peekCarry). The result
// dies at the next upConsume or when the callback returns.
func (lp *loop) upInbound(us *upstreamConn) []byte { return peekCarry(us.c, &us.carry) }

// upConsume drops the first n bytes returned by upInbound.
func (lp *loop) upConsume(us *upstreamConn, n int) { discardCarry(us.c, &us.carry, n) }
