package core

import (
	"net"
	"net/netip"

	"github.com/panjf2000/gnet/v2"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

// maxHeaders is the number of header fields a request or response may carry;
// more is answered 431 (requests) or 502 (responses). It sizes the fixed
// header arrays of the connection structs, so parsing never allocates.
const maxHeaders = 128

// cstate is where a client connection is in its exchange cycle.
type cstate uint8

const (
	csPreface    cstate = iota // waiting for the PROXY header the stream starts with (entry.go)
	csHead                     // waiting for or reading a request head
	csConnecting               // exchange started, the upstream connection is being dialed
	csBody                     // forwarding the request body
	csWait                     // request forwarded, response still streaming
	csClosing                  // closes once its outbound buffer is flushed
	csTunnel                   // relaying an upgraded connection
	csPumped                   // handed over to a pump goroutine
	csClosed
)

// timerKind says what a connection's single timer currently measures.
type timerKind uint8

const (
	tkNone        timerKind = iota
	tkIdle                  // keep-alive idle between requests
	tkHeader                // a request head being read (slowloris)
	tkConnect               // backend connect
	tkUpload                // a client silent in the middle of its request body
	tkResponse              // waiting for the response head
	tkBackendIdle           // a backend silent in the middle of its response body
	tkPoolIdle              // an idle pooled upstream connection
	tkPump                  // an exchange waiting to move to a pump
	tkRetry                 // the backoff before retrying on another target
)

// clientConn is the state of one client connection and of its current
// exchange (at most one: pipelined requests wait in gnet's inbound buffer
// until the previous response is complete). Structs are recycled through the
// loop's free list; a struct is only touched on its loop.
type clientConn struct {
	c            gnet.Conn
	lp           *loop
	t            timer
	tk           timerKind
	state        cstate
	prev, next   *clientConn // the loop's list of client connections
	flushWatched bool
	remote       netip.Addr  // the client's address: the socket's peer, or what its way in said (entry.go)
	tls          bool        // the client connected over TLS: scheme https (entry.go)
	peer         *ClientInfo // what its way in said of the client; nil for a plain client
	carry        []byte      // inbound bytes taken back from a pump, consumed before gnet's buffer
	pumpCarry    []byte      // set by a pump for the loop to take as carry
	pump         *pumpJob    // the pump this exchange is moving to, while it waits
	h2           *h2stream   // the HTTP/2 stream this virtual connection is (h2stream.go); never pumped
	tl           *tlsLink    // the TLS client this virtual connection serves on the loop (tlsloop.go); never pumped

	// The current exchange.
	method     httpparse.Method
	http10     bool
	keepAlive  bool // the client connection stays open after this exchange
	wantsHTML  bool
	upgrade    bool
	reqFraming httpparse.Framing
	reqLeft    int64
	reqDec     httpparse.ChunkedDecoder
	reqDone    bool
	bodySent   bool   // a request body byte went to the upstream
	bodyInHead bool   // head holds the whole request body too (coalesce.go)
	head       []byte // the rewritten request head, kept for one retry; nil between exchanges (idle.go)
	rt         *route.Compiled
	target     *route.Upstream
	upReason   string // why the last connect to a TLS target failed (upstls.Reason), for the event
	pick       route.PickInput
	up         *upstreamConn
	respHead   bool  // the response head was written to the client
	began      int64 // ms, start of the exchange
	deadline   int64 // ms, end of the whole exchange (call timeout)
	retried    bool
	inFlight   bool // counted in the Server's requests in flight (limits.go)
	timeouts   exchangeTimeouts
	layout     headLayout     // where the Host and target are in head (head.go)
	obs        exchangeObs    // request id, timings, event record (observe.go)
	pol        exchangePolicy // what the policy steps decided (policy.go)
	park       *parkToken     // set while the request waits for a quota lease (park.go)
	parks      uint8          // times the current request was parked
	body       bodyState      // body bounds and upload rate (bodylimit.go)
}

// exchangeTimeouts are one exchange's backend timeouts in ms, from the
// route's client config or the server defaults.
type exchangeTimeouts struct {
	connect, response, idle, call int64
}

func (cc *clientConn) expire(lp *loop, now int64) { lp.clientTimeout(cc, now) }

// openClient sets up the client connection c, which came from the listener
// (e nil) or from Enroll (entry.go). On c's loop, in OnOpen.
func (lp *loop) openClient(c gnet.Conn, e *enrolled) {
	cc, ok := popFree(&lp.freeClients)
	if !ok {
		cc = &clientConn{lp: lp}
		cc.t.owner = cc
	}
	cc.c = c
	cc.h2 = nil
	cc.tl = nil
	cc.state = csHead
	cc.park, cc.parks = nil, 0
	cc.remote = netip.Addr{}
	cc.tls = false
	cc.peer = nil
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		cc.remote = ta.AddrPort().Addr().Unmap()
	}
	switch {
	case e != nil && e.info != nil:
		cc.applyClientInfo(e.info)
	case e != nil || lp.s.cfg.ProxyProtocol:
		cc.state = csPreface
	}
	c.SetContext(cc)
	lp.linkClient(cc)
	lp.armClient(cc, tkHeader, lp.s.now()+lp.s.cfg.HeaderTimeout.Milliseconds())
}

func (lp *loop) linkClient(cc *clientConn) {
	if lp.clients == nil {
		lp.clients = &clientConn{}
		lp.clients.prev, lp.clients.next = lp.clients, lp.clients
	}
	h := lp.clients
	cc.prev, cc.next = h.prev, h
	h.prev.next = cc
	h.prev = cc
}

func (lp *loop) unlinkClient(cc *clientConn) {
	if cc.next == nil {
		return
	}
	cc.prev.next = cc.next
	cc.next.prev = cc.prev
	cc.prev, cc.next = nil, nil
}

// idleClients returns the client connections waiting for a new request with
// nothing buffered. The slice is reused by the next call.
func (lp *loop) idleClients() []*clientConn {
	lp.idleScratch = lp.idleScratch[:0]
	if lp.clients == nil {
		return nil
	}
	for cc := lp.clients.next; cc != lp.clients; cc = cc.next {
		if cc.state == csHead && cc.c.InboundBuffered() == 0 {
			lp.idleScratch = append(lp.idleScratch, cc)
		}
	}
	return lp.idleScratch
}

func (lp *loop) armClient(cc *clientConn, k timerKind, deadline int64) {
	cc.tk = k
	lp.wheel.arm(&cc.t, deadline)
}

// armExchange arms cc's timer for phase k, bounded by the call deadline.
func (lp *loop) armExchange(cc *clientConn, k timerKind, phaseMs int64) {
	d := lp.s.now() + phaseMs
	if d > cc.deadline {
		d = cc.deadline
	}
	lp.armClient(cc, k, d)
}

// trafficClient is OnTraffic for client connection cc: it consumes what cc
// has sent as far as its state allows (processClient) and cuts off a client
// that pushes too far ahead of its exchange.
//
// Runs on cc's loop, inside gnet's callback for cc and only there (lp.cur is
// cc.c while it runs). The returned action is for cc.c: gnet.Close closes it
// after the callback. Other connections (the exchange's upstream) may have
// been closed during the call, and cc itself may have been closed and its
// exchange ended by a nested OnClose (a failed write); neither is reported
// in the result. Bytes peeked from cc.c live until their Discard or the end
// of the call, whichever comes first; nothing derived from them is kept.
func (lp *loop) trafficClient(cc *clientConn) gnet.Action {
	lp.enter(cc.c)
	act := lp.processClient(cc)
	if (cc.state == csConnecting || cc.state == csWait) && cc.c.InboundBuffered() > lp.maxWaiting() {
		// gnet keeps reading what we do not consume: a client that pushes
		// this much ahead of its exchange (pipelined requests, or a body
		// while the backend is still being dialed) is cut off.
		lp.s.log.Debug("client sent too far ahead of its exchange", "buffered", cc.c.InboundBuffered())
		lp.abortExchange(cc, errOverloaded)
	}
	return lp.leave(act)
}

// maxWaiting bounds the bytes a client may have buffered in gnet while its
// exchange does not consume them: memory exhaustion by a client that never
// reads its responses, or that uploads faster than a backend can be dialed.
func (lp *loop) maxWaiting() int { return max(4*lp.s.cfg.HighWater, minMaxWaiting) }

// minMaxWaiting is the least of maxWaiting: room for a pipelined upload
// behind a pending response.
const minMaxWaiting = 16 << 20

// processClient consumes what cc's inbound buffer holds, as far as its state
// allows: request heads, then request body bytes. It runs on the loop, in
// cc's OnTraffic or after an exchange completes (pipelining). Peeked bytes are
// used and discarded before it returns.
func (lp *loop) processClient(cc *clientConn) gnet.Action {
	for {
		switch cc.state {
		case csPreface:
			if !lp.readPreface(cc) {
				return gnet.None
			}
		case csHead:
			if !lp.readHead(cc) {
				return gnet.None
			}
		case csBody:
			if !lp.forwardBody(cc) {
				return gnet.None
			}
		case csTunnel:
			lp.relayTunnel(cc, cc.up, true)
			return gnet.None
		default:
			return gnet.None
		}
	}
}

// readHead parses one request head and starts its exchange. It reports
// whether processing may continue with the new state.
func (lp *loop) readHead(cc *clientConn) bool {
	if lp.parkedWaiting(cc) {
		return false
	}
	buf := lp.inbound(cc)
	if len(buf) == 0 {
		return false
	}
	lp.req.Headers = lp.reqHdr[:0]
	n, err := httpparse.ParseRequest(buf, &lp.req, &lp.s.cfg.Limits)
	if err == httpparse.ErrNeedMore {
		if cc.tk != tkHeader {
			lp.armClient(cc, tkHeader, lp.s.now()+lp.s.cfg.HeaderTimeout.Milliseconds())
		}
		return false
	}
	if err != nil {
		cc.wantsHTML = false
		lp.replyError(cc, errKindOfStatus(httpparse.StatusOf(err)), true)
		return false
	}
	lp.startExchange(cc, buf, n)
	return true
}

// startExchange routes the parsed request in buf, picks a target, writes the
// rewritten head to an upstream connection and discards the head. buf is the
// peeked inbound buffer and dies with the Discard.
func (lp *loop) startExchange(cc *clientConn, buf []byte, headLen int) {
	s := lp.s
	req := &lp.req
	cc.method = req.MethodKind
	cc.http10 = req.Version == httpparse.HTTP10
	cc.keepAlive = req.KeepAlive && !s.draining.Load()
	cc.upgrade = offersWebSocket(req, buf) // the only upgrade tunnelled (upgrade.go)
	cc.reqFraming = req.Framing
	cc.reqLeft = 0
	if req.Framing == httpparse.FramingLength {
		cc.reqLeft = req.ContentLength
	}
	cc.reqDec.Reset()
	cc.reqDone = req.Framing == httpparse.FramingNone ||
		(req.Framing == httpparse.FramingLength && req.ContentLength == 0)
	cc.bodySent = false
	cc.bodyInHead = false
	cc.respHead = false
	cc.retried = false
	cc.wantsHTML = false
	if v, ok := req.Lookup(buf, "accept"); ok {
		cc.wantsHTML = containsFold(v.Bytes(buf), "text/html")
	}
	lp.obsBegin(cc, buf, headLen)
	hasBody := !cc.reqDone

	if req.MethodKind == httpparse.MethodConnect && !s.cfg.AllowConnect {
		lp.consume(cc, headLen)
		lp.replyError(cc, errConnectRefused, hasBody || !cc.keepAlive)
		return
	}
	if err := normalizeRequestPath(req, buf); err != nil {
		lp.consume(cc, headLen)
		lp.replyError(cc, errBadPath, hasBody || !cc.keepAlive)
		return
	}
	snap := s.snap.Load()
	var rt *route.Compiled
	if snap != nil && snap.Routes != nil {
		rt = snap.Routes.Match(req, buf)
	}
	if rt == nil {
		lp.consume(cc, headLen)
		lp.replyError(cc, errNotFound, hasBody || !cc.keepAlive)
		return
	}
	lp.obsRoute(cc, snap, rt)
	// Policy steps (maintenance, IP lists, API keys, quotas) run here,
	// before any byte goes to a backend; a refusal is answered like any
	// other error.
	cc.pick.Tracking = nil
	k, ok := lp.policy(cc, snap, rt, buf)
	if k == errParked {
		return // the head stays buffered until the quota wakes cc (park.go)
	}
	cc.parks = 0
	if !ok {
		lp.consume(cc, headLen)
		lp.replyError(cc, k, hasBody || !cc.keepAlive)
		return
	}
	if !lp.beginBodies(cc, snap.policyOf(rt)) {
		lp.consume(cc, headLen)
		lp.replyError(cc, errRequestTooLarge, true)
		return
	}
	cc.pick.Tried = 0
	up := lp.pickTarget(cc, rt, req, buf)
	if up == nil {
		lp.consume(cc, headLen)
		lp.replyError(cc, errNoTarget, hasBody || !cc.keepAlive)
		return
	}
	cc.rt = rt
	cc.target = up
	up.Acquire()
	cc.timeouts = lp.timeoutsFor(rt)
	cc.began = s.now()
	cc.deadline = cc.began + cc.timeouts.call
	cc.head = lp.appendRequestHead(lp.exchangeHead(cc), cc, buf, rt, up)
	lp.obsBackend(cc, up)
	lp.consume(cc, headLen+lp.coalesceBody(cc, buf[headLen:]))

	if us := lp.takeIdle(up); us != nil {
		lp.attach(cc, us)
		return
	}
	// (A failed attach was handled by the upstream's OnClose.)
	lp.connect(cc)
}

// connect dials a fresh upstream connection for cc's exchange.
func (lp *loop) connect(cc *clientConn) {
	us := lp.newUpstream(cc.target)
	us.cc = cc
	cc.up = us
	cc.state = csConnecting
	lp.armExchange(cc, tkConnect, cc.timeouts.connect)
	lp.dial(us, cc.timeouts.connect)
}

// attach binds the connected upstream us to cc's exchange and sends the head.
// It reports false when the write failed: the exchange was then handled by
// the upstream's OnClose (a retry or an error answer) and cc must be left
// alone.
func (lp *loop) attach(cc *clientConn, us *upstreamConn) bool {
	us.cc = cc
	us.state = usActive
	us.beginResponse()
	cc.up = us
	if !send(us.c, cc.head) {
		return false
	}
	cc.bodySent = cc.bodySent || cc.bodyInHead
	if cc.reqDone {
		cc.state = csWait
		lp.armExchange(cc, tkResponse, cc.timeouts.response)
		return true
	}
	cc.state = csBody
	cc.body.at = lp.s.now()
	lp.armUpload(cc)
	return true
}

func (lp *loop) timeoutsFor(rt *route.Compiled) exchangeTimeouts {
	cfg := &lp.s.cfg
	t := exchangeTimeouts{
		connect:  cfg.ConnectTimeout.Milliseconds(),
		response: cfg.ResponseTimeout.Milliseconds(),
		idle:     cfg.BackendIdleTimeout.Milliseconds(),
		call:     cfg.CallTimeout.Milliseconds(),
	}
	if v := rt.Client.ConnectionTimeout; v > 0 {
		t.connect = v
	}
	if v := rt.Client.CallTimeout; v > 0 {
		t.response = v
	}
	if v := rt.Client.IdleTimeout; v > 0 {
		t.idle = v
	}
	if v := rt.Client.CallAndStreamTimeout; v > 0 {
		t.call = v
	}
	return t
}

// forwardBody moves request body bytes from cc's inbound buffer to its
// upstream, reframed as announced in the head (Content-Length, or chunked
// passed through after validation). It reports whether the state changed so
// that processing continues.
func (lp *loop) forwardBody(cc *clientConn) bool {
	us := cc.up
	if us.state == usPumped {
		return false // back from an interrupted upload pump, the upstream not yet (pump.go)
	}
	buf := lp.inbound(cc)
	if len(buf) == 0 {
		return false
	}
	var n, cut int // cut: trailer bytes filtered out (trailer.go)
	var data int64 // body bytes, chunk framing left out
	switch cc.reqFraming {
	case httpparse.FramingLength:
		n = len(buf)
		if int64(n) > cc.reqLeft {
			n = int(cc.reqLeft)
		}
		data = int64(n)
		cc.reqLeft -= int64(n)
		if cc.reqLeft == 0 {
			cc.reqDone = true
		}
	case httpparse.FramingChunked:
		for n < len(buf) {
			m, sp, done, err := cc.reqDec.Decode(buf[n:])
			if err == httpparse.ErrNeedMore {
				break
			}
			if err != nil {
				// A broken chunked body: the exchange cannot go on.
				if n > 0 && !send(us.c, buf[:n]) {
					return false
				}
				lp.abortExchange(cc, errKindOfStatus(httpparse.StatusOf(err))) // 431 for a trailer too large
				return false
			}
			if done {
				cut = m - filterTrailer(buf[n:n+m], cc.pol.keepUnderscores)
			}
			data += int64(sp.Len())
			n += m
			if done {
				cc.reqDone = true
				break
			}
		}
	}
	if !lp.requestBody(cc, data) {
		return false // over its bound: aborted
	}
	if n > 0 {
		if !send(us.c, buf[:n-cut]) {
			return false // the upstream's OnClose answered the client
		}
		lp.consume(cc, n)
		cc.obs.dataIn += int64(n)
		cc.bodySent = true
	}
	if cc.reqDone {
		cc.state = csWait
		if !us.gotHead {
			lp.armExchange(cc, tkResponse, cc.timeouts.response)
		}
		return false
	}
	lp.armUpload(cc)
	if us.c.OutboundBuffered() > lp.s.cfg.HighWater {
		switch {
		case cc.tl != nil:
			lp.pauseTLS(cc) // no pump: decryption waits (tlsloop.go)
		case cc.h2 == nil:
			lp.pumpUpload(cc)
		}
	}
	return false
}

// flushed is called at each tick for a watched connection; it reports
// whether the connection no longer needs watching.
func (cc *clientConn) flushed(lp *loop) bool {
	switch cc.state {
	case csClosing:
		if cc.c.OutboundBuffered() == 0 {
			lp.closeConn(cc.c)
			return true
		}
		return false
	case csPumped:
		return lp.pumpFlushCheck(cc)
	}
	return true
}

// clientTimeout handles cc's timer.
func (lp *loop) clientTimeout(cc *clientConn, now int64) {
	switch cc.tk {
	case tkIdle:
		cc.state = csClosing
		lp.closeConn(cc.c)
	case tkHeader:
		if cc.c.InboundBuffered() == 0 {
			cc.state = csClosing
			lp.closeConn(cc.c)
			return
		}
		cc.keepAlive = false
		lp.replyError(cc, errClientTimeout, true)
	case tkUpload:
		lp.abortExchange(cc, errBodyTimeout)
	case tkConnect:
		lp.retryOrAbort(cc, errTimeout, true)
	case tkResponse:
		if us := cc.up; us != nil && !us.gotBytes {
			lp.retryOrAbort(cc, errTimeout, false)
			return
		}
		lp.abortExchange(cc, errTimeout)
	case tkBackendIdle:
		lp.abortExchange(cc, errTimeout)
	case tkRetry:
		lp.retryAttempt(cc)
	case tkPump:
		lp.pumpAbort(cc)
	}
}

// containsFold reports whether b contains the lower-case ASCII s, ignoring case.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if httpparse.EqualFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

// inbound returns the bytes available from cc (see peekCarry). The result
// dies at the next consume or when the callback returns.
func (lp *loop) inbound(cc *clientConn) []byte { return peekCarry(cc.c, &cc.carry) }

// inboundLen is len(lp.inbound(cc)) without peeking.
func (lp *loop) inboundLen(cc *clientConn) int {
	return len(cc.carry) + cc.c.InboundBuffered()
}

// consume drops the first n bytes returned by inbound.
func (lp *loop) consume(cc *clientConn, n int) { discardCarry(cc.c, &cc.carry, n) }

// peekCarry returns the bytes available from a connection c whose carry holds
// bytes a pump handed back: the carry first (followed by anything gnet read
// since, moved into it), else gnet's inbound buffer. The result dies at the
// next discardCarry or when the callback returns.
func peekCarry(c gnet.Conn, carry *[]byte) []byte {
	if len(*carry) > 0 {
		if c.InboundBuffered() > 0 {
			b, _ := c.Peek(-1)
			*carry = append(*carry, b...)
			_, _ = c.Discard(-1)
		}
		return *carry
	}
	b, _ := c.Peek(-1)
	return b
}

// discardCarry drops the first n bytes returned by peekCarry. n == 0 drops
// nothing: gnet's Discard(0) would drop everything buffered (a partial chunk
// size line left by relayBody was lost that way).
func discardCarry(c gnet.Conn, carry *[]byte, n int) {
	if n <= 0 {
		return
	}
	if len(*carry) > 0 {
		*carry = (*carry)[n:]
		if len(*carry) == 0 {
			*carry = nil
		}
		return
	}
	_, _ = c.Discard(n)
}

// send writes b to c. When the write fails, gnet closes c inside Write and
// our OnClose for c has already run when send returns false: the caller must
// stop using c and whatever that OnClose tore down.
func send(c gnet.Conn, b []byte) bool {
	_, err := c.Write(b)
	return err == nil
}

// virtual reports whether cc's connection is no socket of its own (an HTTP/2
// stream, a TLS client served on the loop): its exchanges are never pumped.
func (cc *clientConn) virtual() bool { return cc.h2 != nil || cc.tl != nil }

// freeClient retires cc; it is recycled at the next tick.
func (lp *loop) freeClient(cc *clientConn) {
	lp.deadClients = append(lp.deadClients, cc)
}
