package core

import (
	"errors"

	"github.com/panjf2000/gnet/v2"

	"github.com/torii-gateway/torii/core/h2"
	"github.com/torii-gateway/torii/httpparse"
)

// h2stream is one HTTP/2 request stream and, for the engine, a virtual
// client connection: it implements the gnet.Conn methods the HTTP/1.1
// pipeline uses (Peek, Discard, InboundBuffered over the translated request
// bytes; Write, OutboundBuffered over the response it translates back; its
// context). The others fall through to the HTTP/2 connection's gnet.Conn
// (addresses, event loop) and must not be used for I/O: closeConn closes a
// stream through closeStream, and exchanges of a stream never move to a
// pump (the pipeline checks clientConn.h2).
type h2stream struct {
	gnet.Conn // the HTTP/2 connection's; see above
	hc        *h2conn
	id        uint32
	cc        *clientConn // the engine's side; nil once it closed the stream
	ctx       any

	// The request, as HTTP/1.1 bytes for the engine.
	in       []byte
	off      int
	hasBody  bool
	clLeft   int64 // DATA bytes still announced by content-length; -1: chunked
	recvWin  int64
	unacked  int64 // DATA bytes consumed or buffered, not yet given back
	recvDone bool  // END_STREAM received (or the stream is gone)
	reset    bool
	method   httpparse.Method

	// The response, parsed back from the HTTP/1.1 bytes the engine writes.
	rs       uint8 // rsHead, rsBody, rsDone
	carry    []byte
	framing  httpparse.Framing
	left     int64
	dec      httpparse.ChunkedDecoder
	sendWin  int64
	pending  []byte // DATA payload waiting for the client's windows
	pendEnd  bool   // END_STREAM follows pending (after trailers, if any)
	trailers []byte // HPACK block of the response trailers, sent after pending
	sentEnd  bool
	released bool
	counted  bool // counted against MaxConcurrentStreams
	// declTrailers: the request declared trailers (a trailer field).
	declTrailers bool
	// held is the last body byte of a content-length body, given to the
	// engine only with END_STREAM: a stream refused at its end (bad
	// trailers) never completes a request at the backend.
	held    byte
	hasHeld bool
}

// releaseHeld gives the engine the body byte held back until END_STREAM.
func (st *h2stream) releaseHeld() {
	if st.hasHeld {
		st.in = append(st.in, st.held)
		st.hasHeld = false
	}
}

const (
	rsHead uint8 = iota
	rsBody
	rsDone
)

var errStreamClosed = errors.New("HTTP/2 connection closed")

// newStream returns a fresh stream struct for id.
func (hc *h2conn) newStream(id uint32) *h2stream {
	st, ok := popFree(&hc.lp.freeStreams)
	if !ok {
		st = &h2stream{}
	}
	st.Conn = hc.c
	st.hc = hc
	st.id = id
	st.clLeft = -1
	st.recvWin = int64(hc.cfg.StreamWindow)
	st.sendWin = hc.peerInitWin
	st.released = false
	return st
}

// releaseStream recycles st, which is in no list.
func (hc *h2conn) releaseStream(st *h2stream) {
	if st.released {
		return
	}
	st.released = true
	st.Conn, st.hc, st.cc, st.ctx = nil, nil, nil, nil
	st.in, st.off = st.in[:0], 0
	st.hasBody, st.unacked, st.recvDone, st.reset = false, 0, false, false
	st.declTrailers, st.hasHeld = false, false
	st.rs, st.carry, st.left = rsHead, st.carry[:0], 0
	st.dec.Reset()
	st.pending, st.pendEnd, st.trailers, st.sentEnd = st.pending[:0], false, st.trailers[:0], false
	if cap(st.in) > 64<<10 {
		st.in = nil
	}
	if cap(st.pending) > 64<<10 {
		st.pending = nil
	}
	pushFree(&hc.lp.freeStreams, st)
}

// release removes st from the connection and recycles it.
func (hc *h2conn) release(st *h2stream) {
	for i, x := range hc.streams {
		if x == st {
			last := len(hc.streams) - 1
			hc.streams[i] = hc.streams[last]
			hc.streams[last] = nil
			hc.streams = hc.streams[:last]
			if st.counted {
				hc.nOpen--
				hc.lp.s.h2Open.Add(-1)
				st.counted = false
			}
			break
		}
	}
	hc.releaseStream(st)
	if hc.idle() && !hc.closed {
		hc.armIdle(hc.lp)
		if hc.goingAway {
			hc.wantFlush() // the flush closes it
		}
	}
}

// maybeRelease releases st once both sides are done with it: the engine
// closed it, and its response (or reset) is all written.
func (hc *h2conn) maybeRelease(st *h2stream) {
	if st.cc != nil || st.released {
		return
	}
	if st.reset || (st.sentEnd && st.recvDone) {
		hc.release(st)
		return
	}
	if st.sentEnd && !st.recvDone {
		// The response is complete and the request is not: the client
		// may stop sending (RFC 9113 §8.1).
		hc.rst(st.id, h2.ErrCodeNo)
		st.recvDone = true
		if st.unacked > 0 {
			hc.creditConn(st.unacked)
			st.unacked = 0
		}
		hc.release(st)
	}
}

// h2StartStream opens st's virtual client connection and lets the engine
// read its request head. The stream is no client connection of its own: it
// is not counted in Server.conns (MaxConns, Stats.Conns, Shutdown's wait),
// where its HTTP/2 connection already is until closeH2; onClientClose
// gives nothing back for it. Streams have their own bound,
// MaxConcurrentStreams per connection.
func (lp *loop) h2StartStream(hc *h2conn, st *h2stream) {
	lp.openClient(st, &hc.en)
	st.cc = st.ctx.(*clientConn)
	st.cc.h2 = st
	lp.h2Drive(st)
}

// h2Drive lets the engine consume what st's inbound holds, as gnet's
// OnTraffic would.
func (lp *loop) h2Drive(st *h2stream) {
	cc := st.cc
	if cc == nil {
		return
	}
	if lp.cur != nil {
		// Inside another connection's callback (the engine's own
		// processing): it consumes the bytes when it gets there.
		if act := lp.processClient(cc); act == gnet.Close {
			lp.closeConn(st)
		}
		return
	}
	if lp.trafficClient(cc) == gnet.Close && st.cc == cc {
		lp.closeStream(st)
	}
}

// closeStream is closeConn for a stream: the engine's side closes (its
// OnClose, onClientClose, runs now) and the stream ends on the wire unless
// its response was complete.
func (lp *loop) closeStream(st *h2stream) {
	cc := st.cc
	if cc == nil {
		return
	}
	st.cc = nil
	lp.onClientClose(cc)
	hc := st.hc
	if hc == nil || hc.closed {
		return
	}
	if st.rs != rsDone && !st.reset {
		// The engine gave up mid-response (or before one): the client
		// must not take what it got as complete.
		st.reset = true
		st.pending = st.pending[:0]
		hc.rst(st.id, h2.ErrCodeInternal)
		if st.unacked > 0 {
			hc.creditConn(st.unacked)
			st.unacked = 0
		}
	}
	hc.maybeRelease(st)
	hc.wantFlush()
}

// The gnet.Conn methods the pipeline uses.

func (st *h2stream) Context() any       { return st.ctx }
func (st *h2stream) SetContext(ctx any) { st.ctx = ctx }

func (st *h2stream) Peek(n int) ([]byte, error) {
	b := st.in[st.off:]
	if n >= 0 && n < len(b) {
		b = b[:n]
	}
	return b, nil
}

func (st *h2stream) InboundBuffered() int { return len(st.in) - st.off }

func (st *h2stream) Discard(n int) (int, error) {
	if n < 0 || n > len(st.in)-st.off {
		n = len(st.in) - st.off
	}
	st.off += n
	if st.off == len(st.in) {
		st.in, st.off = st.in[:0], 0
		st.credit()
	}
	return n, nil
}

// credit gives consumed DATA bytes back to the client, unless the
// backend's socket is backed up: then the client waits (backpressure) and
// the connection's timer retries.
func (st *h2stream) credit() {
	hc := st.hc
	if st.unacked == 0 || hc == nil || hc.closed {
		return
	}
	if cc := st.cc; cc != nil && cc.up != nil && cc.up.state == usActive && cc.up.c != nil && cc.up.c.OutboundBuffered() > hc.lp.s.cfg.HighWater {
		hc.kick() // the timer retries
		return
	}
	n := st.unacked
	st.unacked = 0
	hc.recvWin += n
	hc.out = h2.AppendWindowUpdate(hc.out, 0, uint32(n))
	if !st.recvDone {
		st.recvWin += n
		hc.out = h2.AppendWindowUpdate(hc.out, st.id, uint32(n))
	}
	hc.wantFlush()
}

// h2Resume gives back what streams held while their backend was backed up.
func (lp *loop) h2Resume(hc *h2conn) {
	for _, st := range hc.streams {
		if st.unacked > 0 && st.InboundBuffered() == 0 {
			st.credit()
		}
	}
}

func (st *h2stream) Next(n int) ([]byte, error) {
	b, _ := st.Peek(n)
	_, _ = st.Discard(len(b))
	return b, nil
}

func (st *h2stream) OutboundBuffered() int { return len(st.pending) }

func (st *h2stream) Close() error { st.hc.lp.closeStream(st); return nil }

func (st *h2stream) Dup() (int, error) { return -1, errors.New("an HTTP/2 stream has no socket") }

func (st *h2stream) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		m, err := st.Write(b)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Write takes HTTP/1.1 response bytes from the engine and sends them as
// frames.
func (st *h2stream) Write(b []byte) (int, error) {
	hc := st.hc
	if hc == nil || hc.closed {
		return 0, errStreamClosed
	}
	n := len(b)
	if st.reset || st.rs == rsDone {
		return n, nil
	}
	data := b
	if len(st.carry) > 0 {
		st.carry = append(st.carry, b...)
		data = st.carry
	}
	used := hc.lp.h2Response(st, data)
	rest := data[used:]
	switch {
	case len(rest) == 0:
		st.carry = st.carry[:0]
	case len(st.carry) > 0:
		st.carry = st.carry[:copy(st.carry, rest)]
	default:
		st.carry = append(st.carry[:0], rest...)
	}
	hc.wantFlush()
	return n, nil
}

// h2Response translates HTTP/1.1 response bytes into frames and returns how
// many bytes it used (the rest is an incomplete element, kept for later).
func (lp *loop) h2Response(st *h2stream, b []byte) int {
	hc := st.hc
	used := 0
	for used < len(b) && st.rs != rsDone && !st.reset {
		buf := b[used:]
		if st.rs == rsHead {
			resp := &lp.h2resp
			resp.Headers = lp.h2respHdr[:0]
			n, err := httpparse.ParseResponse(buf, resp, &lp.s.cfg.Limits)
			if err == httpparse.ErrNeedMore {
				return used
			}
			if err != nil {
				lp.h2Reset(hc, st, true, h2.ErrCodeInternal)
				return len(b)
			}
			used += n
			st.framing = resp.BodyFraming(st.method)
			final := resp.Status >= 200
			end := final && st.framing == httpparse.FramingNone
			if st.framing == httpparse.FramingLength && resp.ContentLength == 0 {
				end = true
			}
			blk := lp.h2blk[:0]
			blk = h2.AppendStatus(blk, resp.Status)
			for i := range resp.Headers {
				h := &resp.Headers[i]
				if h.Flags&httpparse.FlagHopByHop != 0 {
					continue
				}
				name := h.Name.Bytes(buf)
				if h.Flags&httpparse.FlagFraming != 0 && !httpparse.EqualFold(name, "content-length") {
					continue
				}
				blk = h2.AppendField(blk, name, h.Value.Bytes(buf))
			}
			lp.h2blk = blk
			hc.headers(st.id, blk, end)
			if !final {
				continue // 1xx: the final head follows
			}
			st.left = resp.ContentLength
			st.dec.Reset()
			if end {
				st.rs = rsDone
				st.sentEnd = true
				break
			}
			st.rs = rsBody
			continue
		}
		switch st.framing {
		case httpparse.FramingLength:
			n := len(buf)
			if int64(n) > st.left {
				n = int(st.left)
			}
			st.left -= int64(n)
			used += n
			st.data(buf[:n], st.left == 0)
		case httpparse.FramingChunked:
			m, sp, done, err := st.dec.Decode(buf)
			if err == httpparse.ErrNeedMore {
				return used
			}
			if err != nil {
				lp.h2Reset(hc, st, true, h2.ErrCodeInternal)
				return len(b)
			}
			if sp.Len() > 0 {
				st.data(sp.Bytes(buf), false)
			}
			if done {
				tr := st.dec.Trailer()
				if tr.Len() > 0 {
					st.trailers = lp.appendTrailerBlock(st.trailers[:0], tr.Bytes(buf))
				}
				st.data(nil, true)
			}
			used += m
		default:
			// Until close: the engine chunks it for an HTTP/1.1 client,
			// so this is not reached; take the bytes as data.
			used = len(b)
			st.data(buf, false)
		}
	}
	return used
}

// appendTrailerBlock encodes the trailer field lines in tr ("name: value"
// CRLF each, syntax-checked by the chunked decoder) as an HPACK block.
func (lp *loop) appendTrailerBlock(dst, tr []byte) []byte {
	for len(tr) > 0 {
		line := tr
		if i := indexCRLF(tr); i >= 0 {
			line, tr = tr[:i], tr[i+2:]
		} else {
			tr = nil
		}
		c := indexByte(line, ':')
		if c <= 0 {
			continue
		}
		name, value := line[:c], trimOWS(line[c+1:])
		if !trailerAllowed(name, true) {
			continue
		}
		dst = h2.AppendField(dst, name, value)
	}
	return dst
}

// data queues response body bytes p (end: the body ends after them) and
// sends what the windows allow.
func (st *h2stream) data(p []byte, end bool) {
	hc := st.hc
	st.pending = append(st.pending, p...)
	if end {
		st.pendEnd = true
		st.rs = rsDone
	}
	st.flush()
	if len(st.pending) > hc.lp.maxWaiting() {
		// The client's windows stay closed while the backend goes on: cut
		// off rather than hold without bound.
		hc.lp.h2Reset(hc, st, true, h2.ErrCodeFlowControl)
	}
}

// flush sends st's pending DATA within the windows, then its trailers and
// END_STREAM when everything went.
func (st *h2stream) flush() {
	hc := st.hc
	if st.reset || st.sentEnd {
		return
	}
	for len(st.pending) > 0 {
		if hc.c.OutboundBuffered()+len(hc.out) > hc.lp.s.cfg.HighWater {
			hc.kick() // the client reads slowly: the connection's timer sends the rest
			return
		}
		n := int64(len(st.pending))
		n = min(n, st.sendWin, hc.sendWin, int64(hc.peerMaxFrame))
		if n <= 0 {
			return // a WINDOW_UPDATE sends the rest
		}
		var flags uint8
		last := n == int64(len(st.pending))
		if last && st.pendEnd && len(st.trailers) == 0 {
			flags = h2.FlagEndStream
		}
		hc.out = h2.AppendFrameHeader(hc.out, int(n), h2.FrameData, flags, st.id)
		hc.out = append(hc.out, st.pending[:n]...)
		st.sendWin -= n
		hc.sendWin -= n
		st.pending = st.pending[:copy(st.pending, st.pending[n:])]
		if flags != 0 {
			st.sentEnd = true
			hc.maybeRelease(st)
			return
		}
	}
	if !st.pendEnd {
		return
	}
	if len(st.trailers) > 0 {
		hc.headers(st.id, st.trailers, true)
	} else {
		hc.out = h2.AppendFrameHeader(hc.out, 0, h2.FrameData, h2.FlagEndStream, st.id)
	}
	st.sentEnd = true
	hc.maybeRelease(st)
}

// sendPending sends what streams hold, as far as the windows allow.
func (hc *h2conn) sendPending() {
	for i := 0; i < len(hc.streams); i++ {
		st := hc.streams[i]
		if len(st.pending) > 0 || (st.pendEnd && !st.sentEnd) {
			n := len(hc.streams)
			st.flush()
			if len(hc.streams) < n {
				i-- // released: another stream took its place
			}
		}
	}
	hc.wantFlush()
}

// hasPending reports whether a stream holds DATA for the client.
func (hc *h2conn) hasPending() bool {
	for _, st := range hc.streams {
		if len(st.pending) > 0 {
			return true
		}
	}
	return false
}

// headers queues a HEADERS frame for stream id with block, split into
// CONTINUATION frames past the client's frame size.
func (hc *h2conn) headers(id uint32, blk []byte, end bool) {
	var flags uint8
	if end {
		flags = h2.FlagEndStream
	}
	t := h2.FrameHeaders
	for {
		n := min(len(blk), int(hc.peerMaxFrame))
		f := flags
		if n == len(blk) {
			f |= h2.FlagEndHeaders
		}
		hc.out = h2.AppendFrameHeader(hc.out, n, t, f, id)
		hc.out = append(hc.out, blk[:n]...)
		blk = blk[n:]
		if len(blk) == 0 {
			return
		}
		t, flags = h2.FrameContinuation, 0
	}
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// creditHeld reports whether a stream holds back window credit.
func (hc *h2conn) creditHeld() bool {
	for _, st := range hc.streams {
		if st.unacked > 0 && st.InboundBuffered() == 0 {
			return true
		}
	}
	return false
}
