package core

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/panjf2000/gnet/v2"

	"github.com/torii-gateway/torii/internal/sockpair"
)

// TLS record layer on the loops (tlsedge relay mode "loop"). The handshake
// runs on a goroutine (package tlsedge); then the client's TCP connection
// itself is enrolled into a loop (EnrollTLS) and the loop drives crypto/tls
// over it: a sockpair.Conn under the tls.Conn, switched to fed mode, reads
// the ciphertext gnet read from the socket and writes ciphertext into the
// gnet connection's outbound buffer, so no socketpair and no relay thread
// stand between the client and the engine. The HTTP/1.1 pipeline serves a
// virtual client connection (tlsVC), like an HTTP/2 stream (h2stream.go):
// its inbound buffer is the plaintext tls.Conn.Read returned, its Write goes
// through tls.Conn.Write (batched to one record per backend callback, like
// HTTP/2 frames), and its exchanges never move to a pump: a response that
// the client reads slowly holds the backend's socket off the loop (h2hold.go)
// until the client's outbound drains below HighWater/2; an upload that the
// backend takes slowly stops the decryption until the backend's outbound
// drains, gnet's inbound buffer of the client then bounded by maxWaiting (a
// client past it is cut off); a tunnel (WebSocket) relays on the loop and is
// cut off past maxWaiting buffered towards the client. A close_notify (or
// the end of the TCP stream) from the client ends the connection once what
// it sent before is served, as the end of stream of a plain client does;
// closing the connection sends close_notify first. Post-handshake messages
// (TLS 1.3 KeyUpdate) are handled by crypto/tls inside Read, its answer
// written through the same outbound buffer.
//
// A connection whose ALPN chose h2 (with the engine's HTTP/2 server on) is
// an HTTP/2 connection (h2conn.go) over the same virtual connection: its
// frames are read from the plaintext and written through tls.Conn.Write,
// the HTTP/2 flow-control windows and h2hold.go doing what pausing and
// holding the socket do for HTTP/1.1. A close_notify (or the end of the TCP
// stream) ends it once the frames that came before are processed, as gnet
// ends a plaintext HTTP/2 connection at its end of stream.
//
// The records one tls.Conn.Write makes are gathered (tlsLink.gather) and
// given to gnet in one Write: one write system call per flush rather than
// one per record.

// tlsEnrolled is the gnet connection context of a TLS client handed over by
// EnrollTLS until OnOpen replaces it with its tlsLink.
type tlsEnrolled struct {
	link *tlsLink
}

// tlsLink is one TLS client connection on a loop: the gnet connection of its
// socket (raw), the tls.Conn over it, and the virtual connection the engine
// serves (vc).
type tlsLink struct {
	raw  gnet.Conn
	tc   *tls.Conn
	lp   *loop
	vc   tlsVC
	cc   *clientConn // the engine's side (HTTP/1.1); nil once it closed
	hc   *h2conn     // the engine's side (ALPN h2), instead of cc
	info *ClientInfo
	done func() // EnrollTLS's, called once when the connection is over

	recLeft int    // bytes of the current record not yet given to crypto/tls
	hdrPart []byte // the start of a record header crypto/tls read during the handshake
	// drain: crypto/tls may hold whole records it read with the handshake's last
	// one; decryptTLS reads until it says it would block (see tlsLink.Read).
	drain bool

	// held is the socket while it is off the loop (holdTLS): an upload the
	// backend takes slowly leaves the client's bytes in the kernel, TCP flow
	// control pushing back, as a pump would. carry is the ciphertext gnet
	// had read then (read before the socket's), cipherOut what crypto/tls
	// wrote meanwhile (sent when the socket is back).
	held      net.Conn
	carry     []byte
	cipherOut []byte
	moving    bool // off the loop or on its way back: raw is stale, its OnClose is ours

	// in is the plaintext not yet consumed by the engine (from off): during
	// serveTLS the loop's shared buffer (shared), else own, which only a
	// connection whose bytes outlived a callback has (an idle keep-alive
	// connection holds none).
	in     []byte
	off    int
	own    []byte
	shared bool
	out    []byte // plaintext written in a backend's callback, sent at its end

	dirty    bool // in lp.tlsDirty
	watched  bool // in lp.tlsWatch
	paused   bool // decryption stopped while the backend's outbound drains
	peerDone bool // close_notify, end of stream or a record error: nothing more comes
	closed   bool // gnet closed raw
	gather   bool // a flush runs: records go to lp.cipher, then to gnet at once (sealTLS)
}

// tlsVC is the virtual client connection of a tlsLink; gnet.Conn methods not
// defined here fall through to the socket's gnet connection (addresses, event
// loop) and must not be used for I/O.
type tlsVC struct {
	gnet.Conn
	l   *tlsLink
	ctx any
}

var errTLSClosed = errors.New("TLS client connection closed")

// errTLSNeedMore is not expected: the fed Conn reads only when InboundBuffered
// says there is a whole record header or the rest of a record.
var errTLSNeedMore = errors.New("TLS record header incomplete")

// EnrollTLS hands the engine a TLS client connection whose handshake is
// done: nc is its TCP connection (closed when EnrollTLS returns, the engine
// keeping a duplicate of its descriptor), tc the tls.Conn over rec, which
// wraps nc and is switched to fed mode here; info describes the client (no
// PROXY header). From then on only the loop uses tc. When EnrollTLS returns
// nil, done (if not nil) is called once, on the loop, when the connection is
// over. Otherwise like Enroll.
func (s *Server) EnrollTLS(nc net.Conn, tc *tls.Conn, rec *sockpair.Conn, info *ClientInfo, done func()) error {
	if err := s.waitEnrollable(nc); err != nil {
		return err
	}
	cp := *info
	l := &tlsLink{tc: tc, info: &cp, done: done, drain: true}
	hdr, left := rec.Framing()
	if left > 0 {
		l.recLeft = left
	} else if len(hdr) > 0 {
		l.hdrPart = append([]byte(nil), hdr...)
	}
	rec.Feed(l)
	ch, err := s.register(nc, &tlsEnrolled{link: l})
	if err != nil {
		return err
	}
	if res := <-ch; res.Err != nil {
		return fmt.Errorf("cannot enroll TLS client connection: %w", res.Err)
	}
	return nil
}

// The sockpair.Feeder of the tls.Conn: the socket's gnet connection, on the loop.

// Before OnOpen (an enrollment that failed) there is nothing to read and
// writes fail. Read gives crypto/tls at most one record at a time (the
// rest stays in gnet's buffer), so that when a Read of the tls.Conn has
// drained its plaintext and gnet holds nothing, the tls.Conn holds no
// ciphertext either and decryptTLS does not ask again: each attempt that
// finds nothing costs crypto/tls an allocation (its readFromUntil). That
// holds once crypto/tls has said it would block: during the handshake it
// read what the socket had, which may be records (and part of one) behind
// its last message: the framing starts where the handshake's reads left it
// (sockpair.Conn.Framing), and decryptTLS reads until the first "would
// block" (tlsLink.drain).

// tlsRecordHeader is the length of a TLS record header.
const tlsRecordHeader = 5

func (l *tlsLink) InboundBuffered() int {
	if l.raw == nil || l.moving {
		return 0
	}
	n := len(l.carry) + l.raw.InboundBuffered()
	if l.recLeft == 0 && n < tlsRecordHeader-len(l.hdrPart) {
		return 0 // a record header arrives whole before it is read
	}
	return n
}

func (l *tlsLink) Read(p []byte) (int, error) {
	if l.recLeft == 0 {
		need := tlsRecordHeader - len(l.hdrPart)
		h := l.peekCipher(need)
		if len(h) < need {
			return 0, errTLSNeedMore
		}
		if len(l.hdrPart) > 0 {
			h = append(l.hdrPart, h...)
			l.hdrPart = nil
		}
		l.recLeft = need + (int(h[3])<<8 | int(h[4]))
	}
	if len(p) > l.recLeft {
		p = p[:l.recLeft]
	}
	var n int
	var err error
	if len(l.carry) > 0 {
		n = copy(p, l.carry)
		l.carry = l.carry[n:]
		if len(l.carry) == 0 {
			l.carry = nil
		}
	} else {
		n, err = l.raw.Read(p)
	}
	l.recLeft -= n
	return n, err
}

// peekCipher returns the next n bytes, a record header's (fewer when they
// have not all come), from the carry first.
func (l *tlsLink) peekCipher(n int) []byte {
	if len(l.carry) == 0 {
		h, _ := l.raw.Peek(n)
		return h
	}
	if len(l.carry) < n && l.raw.InboundBuffered() > 0 {
		b, _ := l.raw.Peek(-1)
		l.carry = append(l.carry, b...)
		_, _ = l.raw.Discard(-1)
	}
	return l.carry[:min(len(l.carry), n)]
}

func (l *tlsLink) Write(p []byte) (int, error) {
	if l.gather {
		l.lp.cipher = append(l.lp.cipher, p...)
		return len(p), nil
	}
	return l.sendCipher(p)
}

// sendCipher gives ciphertext p to the socket's gnet connection (or keeps it
// while the socket is off the loop).
func (l *tlsLink) sendCipher(p []byte) (int, error) {
	if l.closed || l.raw == nil {
		return 0, errTLSClosed
	}
	if l.moving {
		l.cipherOut = append(l.cipherOut, p...)
		return len(p), nil
	}
	return l.raw.Write(p)
}

// sealTLS encrypts b for l's client, the records it makes leaving in one
// gnet Write. On the loop; a failed write closes the socket (OnClose runs
// inside).
func (lp *loop) sealTLS(l *tlsLink, b []byte) error {
	l.gather = true
	_, err := l.tc.Write(b)
	l.gather = false
	out := lp.cipher
	lp.cipher = out[:0] // gnet copies what the socket does not take now
	if len(out) > 0 {
		if _, werr := l.sendCipher(out); err == nil {
			err = werr
		}
	}
	if cap(lp.cipher) > 256<<10 {
		lp.cipher = nil
	}
	return err
}

// openTLS sets up the TLS client l on gnet connection c. In c's OnOpen.
func (lp *loop) openTLS(c gnet.Conn, l *tlsLink) {
	l.raw, l.lp = c, lp
	l.vc.Conn, l.vc.l = c, l
	c.SetContext(l)
	if l.info.ALPN == alpnH2 && lp.s.cfg.HTTP2.Enabled {
		// SETTINGS go with the first flush, once the preface is read.
		l.hc = lp.openH2(&l.vc, l.info)
	} else {
		lp.openClient(&l.vc, &enrolled{info: l.info})
		l.cc = l.vc.ctx.(*clientConn)
		l.cc.tl = l
	}
	// crypto/tls may hold application data that came with the handshake's
	// last flight (tlsLink.drain): serve it without waiting for more traffic.
	if err := lp.el.Execute(context.Background(), l); err != nil {
		lp.s.log.Debug("cannot queue first read of TLS client", "err", err)
	}
}

// Run is the first read of a newly enrolled connection (gnet.Runnable).
func (l *tlsLink) Run(context.Context) error {
	if !l.closed {
		l.lp.driveTLS(l)
	}
	return nil
}

// trafficTLS is OnTraffic for a TLS client's socket.
func (lp *loop) trafficTLS(l *tlsLink) gnet.Action {
	if lp.serveTLS(l) {
		return gnet.Close
	}
	return gnet.None
}

// driveTLS is trafficTLS outside the socket's callback.
func (lp *loop) driveTLS(l *tlsLink) {
	if lp.serveTLS(l) && !l.closed {
		_ = lp.el.Close(l.raw)
	}
}

// serveTLS decrypts what the socket brought and lets the engine consume it;
// it reports whether the socket must close (close_notify already sent).
func (lp *loop) serveTLS(l *tlsLink) bool {
	defer lp.unshareTLS(l)
	if l.raw.InboundBuffered() > lp.maxWaiting() {
		lp.s.log.Debug("TLS client sent too far ahead of its exchange", "buffered", l.raw.InboundBuffered())
		return lp.shutTLS(l)
	}
	lp.decryptTLS(l)
	if hc := l.hc; hc != nil {
		return lp.serveTLSH2(l, hc)
	}
	cc := l.cc
	if cc == nil || l.closed {
		return !l.closed
	}
	if lp.trafficClient(cc) == gnet.Close || l.cc != cc {
		return lp.shutTLS(l)
	}
	if l.peerDone {
		if lp.peerServed(l) {
			return lp.shutTLS(l)
		}
		lp.watchTLS(l) // the tick closes it once the exchange in flight is over
	}
	if l.paused && l.raw.InboundBuffered() > lp.s.cfg.HighWater {
		return lp.holdTLS(l)
	}
	return false
}

// serveTLSH2 is serveTLS's part for an HTTP/2 connection: its frames are
// read and answered; a client whose stream of records ended (close_notify,
// end of TCP stream, a bad record) is closed then, what is queued sent first.
func (lp *loop) serveTLSH2(l *tlsLink, hc *h2conn) bool {
	if l.closed || hc.closed {
		return false
	}
	if lp.trafficH2(hc) == gnet.Close || l.peerDone {
		return lp.shutTLS(l)
	}
	return false
}

// holdTLS takes the socket of l, whose decryption is paused, off the loop
// (see tlsLink.held); the tick brings it back (checkTLSWatch). It reports
// whether gnet's copy must now close (its OnClose then leaves l alone).
func (lp *loop) holdTLS(l *tlsLink) bool {
	if l.raw.OutboundBuffered() > 0 || len(l.out) > 0 {
		return false // the tick tries again once it went out
	}
	nc, carry, err := detachConn(l.raw)
	if err != nil {
		lp.s.log.Debug("cannot hold TLS client connection", "err", err)
		return false
	}
	l.carry = joinCarry(l.carry, carry)
	l.held = nc
	l.moving = true
	lp.watchTLS(l)
	return true
}

// unholdTLS enrolls l's socket back into the loop; OnOpen then goes on
// (reopenTLS). On the loop.
func (lp *loop) unholdTLS(l *tlsLink) {
	nc := l.held
	l.held = nil
	go func() {
		if lp.s.enroll(lp, l, nc) {
			return
		}
		_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			lp.onTLSGone(l)
			return nil
		}))
	}()
}

// reopenTLS is OnOpen for l's socket back on the loop.
func (lp *loop) reopenTLS(l *tlsLink, c gnet.Conn) gnet.Action {
	if l.closed {
		return gnet.Close
	}
	l.raw, l.vc.Conn = c, c
	l.moving = false
	c.SetContext(l)
	if len(l.cipherOut) > 0 {
		out := l.cipherOut
		l.cipherOut = nil
		if _, err := c.Write(out); err != nil {
			return gnet.None // closed inside Write, OnClose ran
		}
	}
	lp.watchTLS(l) // still paused: the tick decrypts what waited (not inside OnOpen)
	return gnet.None
}

// onTLSGone ends l whose socket could not come back.
func (lp *loop) onTLSGone(l *tlsLink) {
	l.moving = false
	l.raw = nil
	lp.onTLSClose(l)
}

// peerServed reports whether everything the client sent before its
// close_notify was served.
func (lp *loop) peerServed(l *tlsLink) bool {
	cc := l.cc
	return cc != nil && !l.paused && l.vc.InboundBuffered() == 0 && (cc.state == csHead || cc.state == csClosing)
}

// shutTLS sends what is pending and close_notify before the socket closes;
// it reports whether the socket is still open (it then must close).
func (lp *loop) shutTLS(l *tlsLink) bool {
	if l.closed {
		return false
	}
	lp.flushTLS(l)
	if !l.closed && !l.peerDone {
		_ = l.tc.CloseWrite()
	}
	return !l.closed
}

// minTLSRoom is the least free room of the plaintext buffer a record is
// decrypted into (crypto/tls copies the rest of a record on the next Read).
const minTLSRoom = 2048

// decryptTLS moves the records the socket brought into the plaintext buffer
// as far as the engine's backpressure allows.
func (lp *loop) decryptTLS(l *tlsLink) {
	if !l.shared && len(l.in) == l.off {
		if lp.tlsBuf == nil {
			lp.tlsBuf = make([]byte, 0, 16<<10)
		}
		l.in, l.off, l.shared = lp.tlsBuf[:0], 0, true
	}
	for !l.peerDone && !l.paused && !l.closed {
		if len(l.in)-l.off > lp.maxWaiting() {
			return // the trafficClient check cuts the client off
		}
		if cap(l.in)-len(l.in) < minTLSRoom {
			if l.off > 0 {
				l.in = l.in[:copy(l.in, l.in[l.off:])]
				l.off = 0
			}
			if cap(l.in)-len(l.in) < minTLSRoom {
				nb := make([]byte, len(l.in), 2*cap(l.in)+4096)
				copy(nb, l.in)
				l.in = nb
				if l.shared {
					lp.tlsBuf = nb[:0]
				}
			}
		}
		room := cap(l.in) - len(l.in)
		n, err := l.tc.Read(l.in[len(l.in):cap(l.in)])
		l.in = l.in[:len(l.in)+n]
		if err == nil {
			if n < room && l.recLeft == 0 && len(l.carry) == 0 && l.raw.InboundBuffered() == 0 && !l.drain {
				return // crypto/tls holds nothing more (see tlsLink.Read)
			}
			continue
		}
		if sockpair.IsWouldBlock(err) {
			l.drain = false
			return
		}
		l.peerDone = true
	}
}

// maxTLSBufKept is the largest shared plaintext buffer a loop keeps between
// callbacks; one grown past it by a burst (up to maxWaiting) is let go.
const maxTLSBufKept = 64 << 10

// unshareTLS moves what the engine left of l's plaintext out of the loop's
// shared buffer at the end of serveTLS.
func (lp *loop) unshareTLS(l *tlsLink) {
	if !l.shared {
		return
	}
	l.shared = false
	if cap(lp.tlsBuf) > maxTLSBufKept {
		// A burst grew it (decryptTLS): not kept for the life of the loop.
		// Nothing refers to it past this call: the rest is copied below.
		lp.tlsBuf = nil
	}
	rest := l.in[l.off:]
	if len(rest) == 0 {
		l.in, l.off = l.own[:0], 0
		return
	}
	l.own = append(l.own[:0], rest...)
	l.in, l.off = l.own, 0
}

// closeTLS is closeConn for a TLS client's virtual connection.
func (lp *loop) closeTLS(l *tlsLink) {
	if l.moving {
		if l.closed {
			return
		}
		if l.held != nil {
			_ = l.held.Close()
			l.held = nil
			lp.onTLSClose(l)
			return
		}
		l.closed = true // on its way back: reopenTLS closes it
		l.finish()
		lp.endTLSEngine(l)
		return
	}
	if lp.shutTLS(l) {
		_ = lp.el.Close(l.raw)
	}
}

// onTLSClose is OnClose for a TLS client's socket.
func (lp *loop) onTLSClose(l *tlsLink) {
	if l.moving && l.held != nil {
		return // gnet's copy of a held socket
	}
	if l.closed {
		return
	}
	l.closed = true
	l.out = nil
	l.finish()
	lp.endTLSEngine(l)
}

// endTLSEngine ends the engine's side of l, once: the HTTP/1.1 client
// connection or the HTTP/2 connection (its streams' exchanges end as if the
// client left).
func (lp *loop) endTLSEngine(l *tlsLink) {
	if cc := l.cc; cc != nil {
		l.cc = nil
		lp.onClientClose(cc)
	}
	if hc := l.hc; hc != nil {
		lp.closeH2(hc) // once: it marks hc closed
	}
}

// finish calls done once.
func (l *tlsLink) finish() {
	if f := l.done; f != nil {
		l.done = nil
		f()
	}
}

// flushTLS sends the plaintext batched during a backend's callback.
func (lp *loop) flushTLS(l *tlsLink) {
	if len(l.out) == 0 || l.closed {
		return
	}
	out := l.out
	l.out = l.out[:0]
	_ = lp.sealTLS(l, out)
	if cap(l.out) > 64<<10 {
		l.out = nil
	}
}

// flushTLSDirty writes what TLS clients were sent during a backend's callback.
func (lp *loop) flushTLSDirty() {
	for i := 0; i < len(lp.tlsDirty); i++ { // a failed write may close more
		l := lp.tlsDirty[i]
		lp.tlsDirty[i] = nil
		l.dirty = false
		lp.flushTLS(l)
	}
	lp.tlsDirty = lp.tlsDirty[:0]
}

// watchTLS makes the loop's tick check l's backpressure (checkTLSWatch).
func (lp *loop) watchTLS(l *tlsLink) {
	if !l.watched {
		l.watched = true
		lp.tlsWatch = append(lp.tlsWatch, l)
	}
}

// pauseTLS stops decrypting cc's requests while its backend's outbound drains.
func (lp *loop) pauseTLS(cc *clientConn) {
	cc.tl.paused = true
	lp.watchTLS(cc.tl)
}

// checkTLSWatch, at each tick, enrolls back the backends held for TLS
// clients whose outbound drained, and resumes the uploads whose backend's
// did.
func (lp *loop) checkTLSWatch() {
	if len(lp.tlsWatch) == 0 {
		return
	}
	list := lp.tlsWatch
	lp.tlsWatch = lp.tlsSpare[:0]
	half := lp.s.cfg.HighWater / 2
	for _, l := range list {
		l.watched = false
		cc := l.cc
		if l.closed || cc == nil {
			continue
		}
		if l.peerDone && !l.moving && !l.paused {
			if lp.peerServed(l) && l.raw.OutboundBuffered()+len(l.out) == 0 {
				lp.closeTLS(l)
			} else {
				lp.watchTLS(l)
			}
			continue
		}
		if l.moving {
			if l.held == nil {
				lp.watchTLS(l) // on its way back
				continue
			}
			if us := cc.up; us != nil && us.c != nil && us.state == usActive && us.c.OutboundBuffered() >= half {
				lp.watchTLS(l)
				continue
			}
			lp.unholdTLS(l)
			lp.watchTLS(l)
			continue
		}
		if us := cc.up; us != nil && us.held != nil {
			if l.raw.OutboundBuffered()+len(l.out) < half {
				lp.releaseHeld(cc)
			} else {
				lp.watchTLS(l)
			}
		}
		if l.paused {
			if us := cc.up; us != nil && us.c != nil && us.state == usActive && us.c.OutboundBuffered() >= half {
				lp.watchTLS(l)
				continue
			}
			l.paused = false
			lp.driveTLS(l)
		}
	}
	clear(list)
	lp.tlsSpare = list[:0]
}

// The gnet.Conn methods the pipeline uses.

func (v *tlsVC) Context() any       { return v.ctx }
func (v *tlsVC) SetContext(ctx any) { v.ctx = ctx }

func (v *tlsVC) Peek(n int) ([]byte, error) {
	l := v.l
	b := l.in[l.off:]
	if n >= 0 && n < len(b) {
		b = b[:n]
	}
	return b, nil
}

func (v *tlsVC) InboundBuffered() int { return len(v.l.in) - v.l.off }

func (v *tlsVC) Discard(n int) (int, error) {
	l := v.l
	if n < 0 || n > len(l.in)-l.off {
		n = len(l.in) - l.off
	}
	l.off += n
	if l.off == len(l.in) {
		l.in, l.off = l.in[:0], 0
		if !l.shared && cap(l.in) > 64<<10 {
			l.in, l.own = nil, nil
		}
	}
	return n, nil
}

func (v *tlsVC) Next(n int) ([]byte, error) {
	b, _ := v.Peek(n)
	_, _ = v.Discard(len(b))
	return b, nil
}

func (v *tlsVC) Read(p []byte) (int, error) {
	b, _ := v.Next(len(p))
	return copy(p, b), nil
}

func (v *tlsVC) OutboundBuffered() int {
	l := v.l
	if l.closed {
		return 0
	}
	if l.moving {
		return len(l.out) + len(l.cipherOut)
	}
	return len(l.out) + l.raw.OutboundBuffered()
}

func (v *tlsVC) Close() error { v.l.lp.closeConn(v); return nil }

func (v *tlsVC) Dup() (int, error) {
	return -1, errors.New("a TLS connection served on the loop has no plaintext socket")
}

func (v *tlsVC) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		m, err := v.Write(b)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Write encrypts b for the client: at once, or at the end of the running
// backend callback (one record for a response's head and body).
func (v *tlsVC) Write(b []byte) (int, error) {
	l := v.l
	if l.closed {
		return 0, errTLSClosed
	}
	lp := l.lp
	if lp.h2batch || len(l.out) > 0 {
		l.out = append(l.out, b...)
		if !l.dirty && lp.h2batch {
			l.dirty = true
			lp.tlsDirty = append(lp.tlsDirty, l)
		} else if !lp.h2batch {
			lp.flushTLS(l)
		}
		if l.closed {
			return 0, errTLSClosed
		}
		return len(b), nil
	}
	if err := lp.sealTLS(l, b); err != nil {
		return 0, err
	}
	return len(b), nil
}
