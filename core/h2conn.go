package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"

	"github.com/panjf2000/gnet/v2"

	"github.com/torii-gateway/torii/core/h2"
)

// The engine's own HTTP/2 server (issue 18). An HTTP/2 connection is a gnet
// connection whose context is an h2conn: its frames are parsed on the loop,
// in its OnTraffic, and each request stream becomes a virtual client
// connection (h2stream, h2stream.go) that the HTTP/1.1 pipeline serves
// unchanged: the stream's validated HEADERS are written as one HTTP/1.1
// request head into the stream's inbound bytes (DATA as its body, framed by
// the checked content-length or chunked, request trailers as chunked
// trailers) and what the pipeline writes back as the HTTP/1.1 response is
// parsed (httpparse) into HEADERS, DATA and trailing HEADERS, within the
// client's flow-control windows. Routing, plugins, API keys, quotas, events
// (protocol HTTP/2.0) and metrics are therefore those of HTTP/1.1.
//
// Connections come in two ways: enrolled with ALPN h2 (the TLS listener: the
// loop's record layer, tlsloop.go, or a socketpair whose PROXY header says
// so, readPreface handing the connection over) and, with
// HTTP2Config.H2C, plaintext connections whose first bytes are the preface
// (h2c.go registers them with an h2Enrolled context).
//
// Frames written while the connection's own callback runs are batched and
// written once at its end; frames written from a backend's callback (a
// response) at the end of that callback, or, while other streams of the
// connection still wait for their responses, when the loop's waker runs
// after the current batch of events (h2waker.go); frames written anywhere
// else when the waker runs too (or a task queued on the loop, without a
// waker).

// h2conn is one HTTP/2 connection, owned by its loop.
type h2conn struct {
	c   gnet.Conn
	lp  *loop
	t   timer
	cfg *HTTP2Config
	en  enrolled // what each stream's virtual client connection opens with

	prefaceDone bool
	closed      bool // gnet closed the connection; nothing may be written
	goingAway   bool // GOAWAY sent: no new stream, close once flushed
	inTraffic   bool // the connection's callback runs: writes wait for its end
	inCb        bool // its callback runs: closing is by the returned action
	flushQueued bool // in lp.h2dirty, or a flush task is queued on the loop
	deferred    bool // in lp.h2later: the loop's waker writes it

	out []byte // frames waiting to be written

	dec h2.Decoder

	// The peer's settings and our send windows.
	peerMaxFrame uint32
	peerInitWin  int64
	sendWin      int64
	recvWin      int64 // what the client may still send on the connection

	streams []*h2stream // open streams (and closed ones with frames still queued)
	lastID  uint32      // highest client stream id seen
	nOpen   uint32      // streams counted against MaxConcurrentStreams

	// The header block being received (HEADERS then CONTINUATION).
	hdrStream uint32
	hdrEnd    bool // END_STREAM on its HEADERS
	hdrFrames int
	hdrBuf    []byte
	hdrPrio   bool
	sink      h2sink // decodes a block into a stream's HTTP/1.1 head

	// Flood accounting: frames that cost us work without progress, per second.
	floodAt    int64
	floodCount int
	resetCount int

	lastFrame int64 // ms, last frame from the client
	pingSent  int64 // ms, an unanswered PING of ours was sent (0: none)
	stalledAt int64 // ms, since when frames wait on a client that reads nothing
}

// h2Enrolled marks a connection handed to the loops as HTTP/2 with prior
// knowledge (h2c.go): OnOpen makes it an h2conn.
type h2Enrolled struct{ info *ClientInfo }

// Flood limits: frames the client makes us answer or process for nothing,
// per connection and second, before GOAWAY ENHANCE_YOUR_CALM.
const (
	h2FloodPerSecond  = 10000
	h2ResetsPerSecond = 1000 // streams reset by the client (rapid reset, CVE-2023-44487)
	h2MaxContinuation = 64   // CONTINUATION frames per header block
	h2MaxOut          = 4 << 20
)

// openH2 turns gnet connection c into an HTTP/2 connection (its preface
// not read yet); info describes the client (ALPN h2).
func (lp *loop) openH2(c gnet.Conn, info *ClientInfo) *h2conn {
	cfg := lp.s.h2cfg.Load() // the limits in force when the connection opened, for its life
	hc := &h2conn{c: c, lp: lp, cfg: cfg}
	hc.t.owner = hc
	if info == nil {
		info = &ClientInfo{ALPN: alpnH2}
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			info.Addr = ta.AddrPort()
		}
	}
	if info.ALPN != alpnH2 {
		cp := *info
		cp.ALPN = alpnH2
		info = &cp
	}
	hc.en.info = info
	hc.dec.Reset(4096)
	hc.peerMaxFrame = h2.MinMaxFrameSize
	hc.peerInitWin = h2.DefaultWindow
	hc.sendWin = h2.DefaultWindow
	hc.recvWin = int64(cfg.ConnWindow)
	hc.sink.hc = hc
	now := lp.s.now()
	hc.lastFrame = now
	c.SetContext(hc)
	if lp.h2conns == nil {
		lp.h2conns = make(map[*h2conn]struct{})
	}
	lp.h2conns[hc] = struct{}{}
	lp.startWaker()
	lp.s.h2Conns.Add(1)
	lp.s.h2Served.Add(1)
	// Our SETTINGS first (RFC 9113 §3.4), then the connection window.
	o := h2.AppendFrameHeader(hc.out[:0], 5*6, h2.FrameSettings, 0, 0)
	o = h2.AppendSetting(o, h2.SettingMaxConcurrentStreams, cfg.MaxConcurrentStreams)
	o = h2.AppendSetting(o, h2.SettingMaxFrameSize, h2.MinMaxFrameSize)
	o = h2.AppendSetting(o, h2.SettingInitialWindowSize, uint32(cfg.StreamWindow))
	o = h2.AppendSetting(o, h2.SettingMaxHeaderListSize, cfg.MaxHeaderListSize)
	o = h2.AppendSetting(o, h2.SettingEnablePush, 0)
	if d := cfg.ConnWindow - h2.DefaultWindow; d > 0 {
		o = h2.AppendWindowUpdate(o, 0, uint32(d))
	}
	hc.out = o
	lp.wheel.arm(&hc.t, now+lp.s.cfg.HeaderTimeout.Milliseconds())
	return hc
}

// trafficH2 is OnTraffic for an HTTP/2 connection: it reads every complete
// frame, then writes what they produced.
func (lp *loop) trafficH2(hc *h2conn) gnet.Action {
	hc.inTraffic, hc.inCb = true, true
	defer func() { hc.inCb = false }()
	act := lp.readFrames(hc)
	hc.inTraffic = false
	if hc.closed {
		return gnet.None
	}
	if act == gnet.Close {
		if len(hc.out) > 0 {
			hc.write()
		}
		return gnet.Close
	}
	hc.flushNow()
	if hc.closed {
		return gnet.None
	}
	if hc.goingAway && hc.idle() {
		return gnet.Close
	}
	return gnet.None
}

func (lp *loop) readFrames(hc *h2conn) gnet.Action {
	buf, _ := hc.c.Peek(-1)
	off := 0
	defer func() {
		if !hc.closed && off > 0 {
			_, _ = hc.c.Discard(off)
		}
	}()
	if !hc.prefaceDone {
		n := min(len(buf), len(h2.Preface))
		if !bytes.Equal(buf[:n], []byte(h2.Preface)[:n]) {
			hc.out = h2.AppendGoAway(hc.out, 0, h2.ErrCodeProtocol)
			return gnet.Close
		}
		if n < len(h2.Preface) {
			return gnet.None
		}
		off = n
		hc.prefaceDone = true
		hc.armIdle(lp)
	}
	for !hc.closed {
		rest := buf[off:]
		if len(rest) < h2.FrameHeaderLen {
			break
		}
		fh := h2.ParseFrameHeader(rest)
		if fh.Length > h2.MinMaxFrameSize {
			// Larger than our SETTINGS_MAX_FRAME_SIZE (§4.2).
			return hc.connError(h2.ErrCodeFrameSize)
		}
		if len(rest) < h2.FrameHeaderLen+int(fh.Length) {
			break
		}
		payload := rest[h2.FrameHeaderLen : h2.FrameHeaderLen+int(fh.Length)]
		off += h2.FrameHeaderLen + int(fh.Length)
		hc.lastFrame = lp.s.now()
		if code := lp.h2Frame(hc, fh, payload); code != h2.ErrCodeNo {
			return hc.connError(code)
		}
		if len(hc.out) > h2MaxOut {
			// The client does not read what its frames make us answer.
			return hc.connError(h2.ErrCodeEnhanceYourCalm)
		}
	}
	return gnet.None
}

// connError queues GOAWAY with code; the connection then closes.
func (hc *h2conn) connError(code h2.ErrCode) gnet.Action {
	hc.lp.s.h2Errors[code&15].Add(1)
	hc.out = h2.AppendGoAway(hc.out, hc.lastID, code)
	hc.goingAway = true
	return gnet.Close
}

// flood counts one frame that cost work without progress and reports
// whether the connection passed its budget.
func (hc *h2conn) flood(now int64) bool {
	if now-hc.floodAt >= 1000 {
		hc.floodAt, hc.floodCount, hc.resetCount = now, 0, 0
	}
	hc.floodCount++
	return hc.floodCount > h2FloodPerSecond
}

// h2Frame handles one frame; a non-zero code is a connection error.
func (lp *loop) h2Frame(hc *h2conn, fh h2.FrameHeader, p []byte) h2.ErrCode {
	if hc.hdrStream != 0 && fh.Type != h2.FrameContinuation {
		return h2.ErrCodeProtocol // a header block must be contiguous (§6.10)
	}
	switch fh.Type {
	case h2.FrameData:
		return lp.h2Data(hc, fh, p)
	case h2.FrameHeaders:
		return lp.h2Headers(hc, fh, p)
	case h2.FrameContinuation:
		if hc.hdrStream == 0 || fh.StreamID != hc.hdrStream {
			return h2.ErrCodeProtocol
		}
		hc.hdrFrames++
		if hc.hdrFrames > h2MaxContinuation || len(hc.hdrBuf)+len(p) > int(hc.cfg.MaxHeaderListSize)+16<<10 {
			return h2.ErrCodeEnhanceYourCalm // CONTINUATION flood
		}
		hc.hdrBuf = append(hc.hdrBuf, p...)
		if fh.Flags&h2.FlagEndHeaders != 0 {
			id := hc.hdrStream
			hc.hdrStream = 0
			return lp.h2Block(hc, id, hc.hdrBuf, hc.hdrEnd)
		}
		return h2.ErrCodeNo
	case h2.FramePriority:
		if fh.StreamID == 0 {
			return h2.ErrCodeProtocol
		}
		if len(p) != 5 {
			hc.rst(fh.StreamID, h2.ErrCodeFrameSize)
			return h2.ErrCodeNo
		}
		if binary.BigEndian.Uint32(p)&h2.MaxWindow == fh.StreamID {
			hc.rst(fh.StreamID, h2.ErrCodeProtocol)
		}
		if hc.flood(lp.s.now()) {
			return h2.ErrCodeEnhanceYourCalm
		}
		return h2.ErrCodeNo
	case h2.FrameRSTStream:
		if fh.StreamID == 0 {
			return h2.ErrCodeProtocol
		}
		if len(p) != 4 {
			return h2.ErrCodeFrameSize
		}
		if fh.StreamID > hc.lastID {
			return h2.ErrCodeProtocol // idle stream (§6.4)
		}
		if st := hc.stream(fh.StreamID); st != nil {
			hc.resetCount++
			lp.h2Reset(hc, st, false, 0)
		}
		if hc.flood(lp.s.now()) || hc.resetCount > h2ResetsPerSecond {
			return h2.ErrCodeEnhanceYourCalm
		}
		return h2.ErrCodeNo
	case h2.FrameSettings:
		return lp.h2Settings(hc, fh, p)
	case h2.FramePushPromise:
		return h2.ErrCodeProtocol
	case h2.FramePing:
		if fh.StreamID != 0 {
			return h2.ErrCodeProtocol
		}
		if len(p) != 8 {
			return h2.ErrCodeFrameSize
		}
		if fh.Flags&h2.FlagAck != 0 {
			hc.pingSent = 0
			return h2.ErrCodeNo
		}
		if hc.flood(lp.s.now()) {
			return h2.ErrCodeEnhanceYourCalm
		}
		hc.out = h2.AppendPing(hc.out, true, p)
		return h2.ErrCodeNo
	case h2.FrameGoAway:
		if fh.StreamID != 0 {
			return h2.ErrCodeProtocol
		}
		hc.goingAway = true // the client leaves: finish the streams, take no new one
		return h2.ErrCodeNo
	case h2.FrameWindowUpdate:
		return lp.h2WindowUpdate(hc, fh, p)
	}
	return h2.ErrCodeNo // unknown frame types are ignored (§5.5)
}

func (lp *loop) h2Settings(hc *h2conn, fh h2.FrameHeader, p []byte) h2.ErrCode {
	if fh.StreamID != 0 {
		return h2.ErrCodeProtocol
	}
	if fh.Flags&h2.FlagAck != 0 {
		if len(p) != 0 {
			return h2.ErrCodeFrameSize
		}
		return h2.ErrCodeNo
	}
	if len(p)%6 != 0 {
		return h2.ErrCodeFrameSize
	}
	if hc.flood(lp.s.now()) {
		return h2.ErrCodeEnhanceYourCalm
	}
	for ; len(p) > 0; p = p[6:] {
		id, v := binary.BigEndian.Uint16(p), binary.BigEndian.Uint32(p[2:])
		switch id {
		case h2.SettingEnablePush:
			if v > 1 {
				return h2.ErrCodeProtocol
			}
		case h2.SettingInitialWindowSize:
			if v > h2.MaxWindow {
				return h2.ErrCodeFlowControl
			}
			delta := int64(v) - hc.peerInitWin
			hc.peerInitWin = int64(v)
			for _, st := range hc.streams {
				st.sendWin += delta
				if st.sendWin > h2.MaxWindow {
					return h2.ErrCodeFlowControl
				}
			}
		case h2.SettingMaxFrameSize:
			if v < h2.MinMaxFrameSize || v > h2.MaxMaxFrameSize {
				return h2.ErrCodeProtocol
			}
			hc.peerMaxFrame = v
		}
	}
	hc.out = h2.AppendFrameHeader(hc.out, 0, h2.FrameSettings, h2.FlagAck, 0)
	hc.sendPending()
	return h2.ErrCodeNo
}

func (lp *loop) h2WindowUpdate(hc *h2conn, fh h2.FrameHeader, p []byte) h2.ErrCode {
	if len(p) != 4 {
		return h2.ErrCodeFrameSize
	}
	incr := int64(binary.BigEndian.Uint32(p) & h2.MaxWindow)
	if fh.StreamID == 0 {
		if incr == 0 {
			return h2.ErrCodeProtocol
		}
		hc.sendWin += incr
		if hc.sendWin > h2.MaxWindow {
			return h2.ErrCodeFlowControl
		}
		hc.sendPending()
		return h2.ErrCodeNo
	}
	if fh.StreamID > hc.lastID {
		return h2.ErrCodeProtocol // idle stream
	}
	st := hc.stream(fh.StreamID)
	if st == nil {
		return h2.ErrCodeNo // closed: allowed for a while (§6.9)
	}
	if incr == 0 {
		lp.h2Reset(hc, st, true, h2.ErrCodeProtocol)
		return h2.ErrCodeNo
	}
	st.sendWin += incr
	if st.sendWin > h2.MaxWindow {
		lp.h2Reset(hc, st, true, h2.ErrCodeFlowControl)
		return h2.ErrCodeNo
	}
	if hc.flood(lp.s.now()) {
		return h2.ErrCodeEnhanceYourCalm
	}
	hc.sendPending()
	return h2.ErrCodeNo
}

// h2Headers handles a HEADERS frame: a new stream's request head, or the
// trailers of an open one.
func (lp *loop) h2Headers(hc *h2conn, fh h2.FrameHeader, p []byte) h2.ErrCode {
	id := fh.StreamID
	if id == 0 || id%2 == 0 {
		return h2.ErrCodeProtocol
	}
	if fh.Flags&h2.FlagPadded != 0 {
		if len(p) < 1 || int(p[0]) >= len(p) {
			return h2.ErrCodeProtocol
		}
		p = p[1 : len(p)-int(p[0])]
	}
	if fh.Flags&h2.FlagPriority != 0 {
		if len(p) < 5 {
			return h2.ErrCodeFrameSize
		}
		if binary.BigEndian.Uint32(p)&h2.MaxWindow == id {
			// Depends on itself (§5.3.1): a stream error, but the block
			// must still be decoded to keep the HPACK table in step.
			hc.hdrPrio = true
		}
		p = p[5:]
	}
	end := fh.Flags&h2.FlagEndStream != 0
	if fh.Flags&h2.FlagEndHeaders == 0 {
		if len(p) > int(hc.cfg.MaxHeaderListSize)+16<<10 {
			return h2.ErrCodeEnhanceYourCalm
		}
		hc.hdrStream, hc.hdrEnd, hc.hdrFrames = id, end, 0
		hc.hdrBuf = append(hc.hdrBuf[:0], p...)
		return h2.ErrCodeNo
	}
	return lp.h2Block(hc, id, p, end)
}

// h2Block handles a complete header block for stream id.
func (lp *loop) h2Block(hc *h2conn, id uint32, block []byte, end bool) h2.ErrCode {
	selfDep := hc.hdrPrio
	hc.hdrPrio = false
	if id <= hc.lastID {
		st := hc.stream(id)
		if st == nil || st.recvDone {
			// A closed stream, or one half-closed (remote): STREAM_CLOSED.
			if err := hc.sink.discard(block); err != nil {
				return h2.ErrCodeCompression
			}
			if st != nil {
				lp.h2Reset(hc, st, true, h2.ErrCodeStreamClosed)
				return h2.ErrCodeNo
			}
			return h2.ErrCodeStreamClosed
		}
		// Trailers.
		if err := hc.sink.decodeTrailers(st, block); err != nil {
			return h2.ErrCodeCompression
		}
		if !end || hc.sink.bad {
			lp.h2Reset(hc, st, true, h2.ErrCodeProtocol)
			return h2.ErrCodeNo
		}
		lp.h2EndOfRequest(hc, st, true)
		return h2.ErrCodeNo
	}
	hc.lastID = id
	st := hc.newStream(id)
	if err := hc.sink.decodeRequest(st, block, end); err != nil {
		hc.releaseStream(st)
		return h2.ErrCodeCompression
	}
	if selfDep || hc.sink.bad {
		hc.streams = append(hc.streams, st)
		lp.h2Reset(hc, st, true, h2.ErrCodeProtocol)
		return h2.ErrCodeNo
	}
	if hc.goingAway {
		hc.releaseStream(st)
		hc.rst(id, h2.ErrCodeRefusedStream)
		return h2.ErrCodeNo
	}
	if hc.nOpen >= hc.cfg.MaxConcurrentStreams {
		hc.releaseStream(st)
		hc.rst(id, h2.ErrCodeRefusedStream)
		lp.s.h2Errors[h2.ErrCodeRefusedStream].Add(1)
		if hc.flood(lp.s.now()) {
			return h2.ErrCodeEnhanceYourCalm
		}
		return h2.ErrCodeNo
	}
	hc.streams = append(hc.streams, st)
	hc.nOpen++
	lp.s.h2Open.Add(1)
	st.counted = true
	hc.armIdle(lp)
	lp.s.h2Streams.Add(1)
	if k := hc.sink.answer; k != errNone {
		lp.h2Answer(st, k)
		hc.maybeRelease(st)
		return h2.ErrCodeNo
	}
	lp.h2StartStream(hc, st)
	return h2.ErrCodeNo
}

// h2Data handles a DATA frame.
func (lp *loop) h2Data(hc *h2conn, fh h2.FrameHeader, p []byte) h2.ErrCode {
	if fh.StreamID == 0 {
		return h2.ErrCodeProtocol
	}
	if fh.StreamID > hc.lastID {
		return h2.ErrCodeProtocol // idle stream
	}
	flowLen := int64(len(p))
	hc.recvWin -= flowLen
	if hc.recvWin < 0 {
		return h2.ErrCodeFlowControl
	}
	if fh.Flags&h2.FlagPadded != 0 {
		if len(p) < 1 || int(p[0]) >= len(p) {
			return h2.ErrCodeProtocol
		}
		p = p[1 : len(p)-int(p[0])]
	}
	st := hc.stream(fh.StreamID)
	if st == nil || st.recvDone {
		hc.creditConn(flowLen)
		if st != nil {
			lp.h2Reset(hc, st, true, h2.ErrCodeStreamClosed)
			return h2.ErrCodeNo
		}
		return h2.ErrCodeStreamClosed
	}
	st.recvWin -= flowLen
	if st.recvWin < 0 {
		hc.creditConn(flowLen)
		lp.h2Reset(hc, st, true, h2.ErrCodeFlowControl)
		return h2.ErrCodeNo
	}
	if len(p) == 0 && fh.Flags&h2.FlagEndStream == 0 && hc.flood(lp.s.now()) {
		return h2.ErrCodeEnhanceYourCalm
	}
	st.unacked += flowLen
	if st.cc == nil {
		// The engine is done with the stream (answered early): drop the body.
		hc.creditConn(flowLen)
		st.unacked = 0
		if fh.Flags&h2.FlagEndStream != 0 {
			st.recvDone = true
			hc.maybeRelease(st)
		}
		return h2.ErrCodeNo
	}
	if st.clLeft >= 0 {
		if int64(len(p)) > st.clLeft {
			lp.h2Reset(hc, st, true, h2.ErrCodeProtocol) // more DATA than content-length
			return h2.ErrCodeNo
		}
		st.clLeft -= int64(len(p))
		if st.clLeft == 0 && len(p) > 0 && fh.Flags&h2.FlagEndStream == 0 {
			st.in = append(st.in, p[:len(p)-1]...)
			st.held, st.hasHeld = p[len(p)-1], true
		} else {
			st.in = append(st.in, p...)
		}
	} else if len(p) > 0 {
		st.in = appendChunkSize(st.in, len(p))
		st.in = append(st.in, p...)
		st.in = append(st.in, '\r', '\n')
	}
	if fh.Flags&h2.FlagEndStream != 0 {
		if st.clLeft > 0 {
			lp.h2Reset(hc, st, true, h2.ErrCodeProtocol) // less DATA than content-length
			return h2.ErrCodeNo
		}
		lp.h2EndOfRequest(hc, st, false)
		return h2.ErrCodeNo
	}
	lp.h2Drive(st)
	return h2.ErrCodeNo
}

// h2EndOfRequest ends st's request body (trailers already written by the
// sink when withTrailers) and lets the engine consume it.
func (lp *loop) h2EndOfRequest(hc *h2conn, st *h2stream, withTrailers bool) {
	st.recvDone = true
	if st.clLeft < 0 && st.hasBody && !withTrailers {
		st.in = append(st.in, "0\r\n\r\n"...)
	}
	st.releaseHeld()
	lp.h2Drive(st)
}

// creditConn gives n bytes back to the client's connection window.
func (hc *h2conn) creditConn(n int64) {
	if n <= 0 {
		return
	}
	hc.recvWin += n
	hc.out = h2.AppendWindowUpdate(hc.out, 0, uint32(n))
	hc.wantFlush()
}

// stream returns the stream with id, nil when it is not open.
func (hc *h2conn) stream(id uint32) *h2stream {
	for _, st := range hc.streams {
		if st.id == id {
			return st
		}
	}
	return nil
}

// rst queues RST_STREAM for id.
func (hc *h2conn) rst(id uint32, code h2.ErrCode) {
	hc.out = h2.AppendRSTStream(hc.out, id, code)
	hc.wantFlush()
}

// h2Reset ends st: reset by the client (send false) or by us with code. The
// engine's exchange, if any, ends as if the client left.
func (lp *loop) h2Reset(hc *h2conn, st *h2stream, send bool, code h2.ErrCode) {
	if send {
		hc.rst(st.id, code)
		lp.s.h2Errors[code&15].Add(1)
	}
	st.reset = true
	st.recvDone = true
	st.pending = st.pending[:0]
	st.pendEnd = false
	st.trailers = st.trailers[:0]
	if st.unacked > 0 {
		hc.creditConn(st.unacked)
		st.unacked = 0
	}
	if st.cc != nil {
		lp.closeStream(st)
		return
	}
	hc.maybeRelease(st)
}

// idle reports whether the connection has no stream left.
func (hc *h2conn) idle() bool { return len(hc.streams) == 0 }

// armIdle arms the connection's timer for its next check.
func (hc *h2conn) armIdle(lp *loop) {
	now := lp.s.now()
	d := now + hc.cfg.PingAfter.Milliseconds()
	if hc.idle() {
		d = min(d, now+hc.cfg.IdleTimeout.Milliseconds())
	}
	if hc.pingSent != 0 {
		d = min(d, hc.pingSent+hc.cfg.PingTimeout.Milliseconds())
	}
	if hc.c.OutboundBuffered() > 0 || hc.hasPending() || hc.creditHeld() {
		d = min(d, now+lp.s.cfg.TickInterval.Milliseconds())
	}
	lp.wheel.arm(&hc.t, d)
}

// kick makes the connection's timer fire at the next tick: data waits on a
// busy socket, or a window credit on a backed-up backend.
func (hc *h2conn) kick() {
	lp := hc.lp
	d := lp.s.now() + lp.s.cfg.TickInterval.Milliseconds()
	if hc.t.deadline == 0 || hc.t.deadline > d {
		lp.wheel.arm(&hc.t, d)
	}
}

// expire is the connection's timer: the preface timeout, idle and ping
// timeouts, write stalls, and sending what waits on a busy socket.
func (hc *h2conn) expire(lp *loop, now int64) {
	if hc.closed {
		return
	}
	if !hc.prefaceDone {
		lp.closeConn(hc.c)
		return
	}
	if hc.pingSent != 0 && now-hc.pingSent >= hc.cfg.PingTimeout.Milliseconds() {
		lp.s.h2Errors[h2.ErrCodeSettingsTimeout].Add(1)
		lp.closeConn(hc.c)
		return
	}
	if hc.idle() && now-hc.lastFrame >= hc.cfg.IdleTimeout.Milliseconds() {
		hc.out = h2.AppendGoAway(hc.out, hc.lastID, h2.ErrCodeNo)
		hc.flushNow()
		if !hc.closed {
			lp.closeConn(hc.c)
		}
		return
	}
	if hc.c.OutboundBuffered() > 0 || (hc.sendWin > 0 && hc.hasPending()) {
		if hc.stalledAt == 0 {
			hc.stalledAt = now
		} else if now-hc.stalledAt >= hc.cfg.WriteTimeout.Milliseconds() {
			lp.closeConn(hc.c) // a client that reads nothing (zero-window stall)
			return
		}
	} else {
		hc.stalledAt = 0
	}
	if hc.pingSent == 0 && now-hc.lastFrame >= hc.cfg.PingAfter.Milliseconds() {
		var data [8]byte
		binary.BigEndian.PutUint64(data[:], uint64(now))
		hc.out = h2.AppendPing(hc.out, false, data[:])
		hc.pingSent = now
	}
	hc.sendPending()
	hc.flushNow()
	if hc.closed {
		return
	}
	lp.h2Resume(hc)
	if lp.releaseDrained(hc) {
		hc.kick()
	}
	if !hc.closed {
		hc.armIdle(lp)
	}
}

// wantFlush makes sure what was queued is written: at the end of the
// connection's callback, at the end of the backend callback that runs
// (flushH2Dirty), or when the loop's waker runs after the current events.
func (hc *h2conn) wantFlush() {
	if hc.inTraffic || hc.flushQueued || hc.deferred || hc.closed {
		return
	}
	lp := hc.lp
	if lp.h2batch {
		// In a backend's callback: decided when it ends (flushH2Dirty), no
		// task and no allocation.
		hc.flushQueued = true
		lp.h2dirty = append(lp.h2dirty, hc)
		return
	}
	if lp.waker.arm() {
		hc.deferred = true
		lp.h2later = append(lp.h2later, hc)
		return
	}
	hc.flushQueued = true
	if err := lp.el.Execute(context.Background(), hc); err != nil {
		hc.flushQueued = false
	}
}

// flushH2Dirty, at the end of a backend's callback, writes the frames
// queued for HTTP/2 connections during it, or leaves them to the loop's
// waker (deferH2).
func (lp *loop) flushH2Dirty() {
	for i := 0; i < len(lp.h2dirty); i++ { // a failed write may close more
		hc := lp.h2dirty[i]
		lp.h2dirty[i] = nil
		hc.flushQueued = false
		if lp.deferH2(hc) {
			continue
		}
		hc.flushNow()
	}
	lp.h2dirty = lp.h2dirty[:0]
}

// Run is the flush task (gnet.Runnable).
func (hc *h2conn) Run(context.Context) error {
	hc.flushQueued = false
	hc.flushNow()
	return nil
}

// flushNow writes the queued frames. A failed write closes the connection
// (gnet runs OnClose inside Write).
func (hc *h2conn) flushNow() {
	if hc.closed {
		return
	}
	if len(hc.out) > 0 {
		hc.write()
	}
	if !hc.closed && !hc.inCb && hc.goingAway && hc.idle() {
		hc.lp.closeConn(hc.c)
	}
}

// write writes the queued frames (one write, one TLS record). A failed write
// closes the connection (gnet runs OnClose inside Write).
func (hc *h2conn) write() {
	out := hc.out
	hc.out = hc.out[:0]
	hc.lp.s.h2Writes.Add(1)
	_, _ = hc.c.Write(out)
}

// closeH2 runs when gnet closed an HTTP/2 connection: every stream's
// exchange ends as if its client left.
func (lp *loop) closeH2(hc *h2conn) {
	if hc.closed {
		return
	}
	hc.closed = true
	lp.s.h2Conns.Add(-1)
	lp.s.conns.Add(-1)
	delete(lp.h2conns, hc)
	lp.wheel.disarm(&hc.t)
	for len(hc.streams) > 0 {
		st := hc.streams[len(hc.streams)-1]
		st.reset = true
		st.recvDone = true
		if st.cc != nil {
			lp.closeStream(st)
		}
		hc.release(st)
	}
}

// drainH2 starts a graceful shutdown of the loop's HTTP/2 connections:
// GOAWAY, no new stream; each closes once its streams are done.
func (lp *loop) drainH2() {
	for hc := range lp.h2conns {
		if hc.closed {
			continue
		}
		if !hc.goingAway {
			hc.goingAway = true
			hc.out = h2.AppendGoAway(hc.out, hc.lastID, h2.ErrCodeNo)
		}
		hc.flushNow()
		if !hc.closed && hc.idle() {
			lp.closeConn(hc.c)
		}
	}
}

// becomeH2 turns client connection cc, whose PROXY header said ALPN h2, into
// an HTTP/2 connection: the clientConn is retired (the connection count
// stays with the HTTP/2 connection) and the bytes after the header are read
// as HTTP/2 now. In cc's callback.
func (lp *loop) becomeH2(cc *clientConn) {
	c, info := cc.c, cc.peer
	cc.state = csClosed
	lp.unlinkClient(cc)
	lp.wheel.disarm(&cc.t)
	lp.freeClient(cc)
	hc := lp.openH2(c, info)
	hc.inCb = true
	hc.inTraffic = true
	act := lp.readFrames(hc)
	hc.inTraffic = false
	if !hc.closed {
		if act == gnet.Close {
			hc.write()
			lp.closeConn(c)
		} else {
			hc.flushNow()
		}
	}
	hc.inCb = false
}

// HTTP2Stats are the counters of the engine's own HTTP/2 server.
type HTTP2Stats struct {
	Conns   int64  // open HTTP/2 connections
	Served  int64  // HTTP/2 connections ever
	Streams uint64 // request streams ever
	// OpenStreams is the number of request streams open now, summed over
	// connections (each bounded by MaxConcurrentStreams). Streams are not
	// client connections: Stats.Conns counts their HTTP/2 connection once.
	OpenStreams int64
	// Writes counts the writes of frames to HTTP/2 connections ever (each
	// one TLS record over TLS): Writes/Streams is what batching achieves.
	Writes uint64
	// Errors counts, by RFC 9113 error code name ("protocol_error",
	// "enhance_your_calm" for floods and rapid resets, "settings_timeout"
	// for an unanswered PING, "refused_stream" past the stream limit),
	// the streams and connections we ended with that code.
	Errors map[string]uint64
}

// HTTP2Stats returns the HTTP/2 counters. Safe from any goroutine.
func (s *Server) HTTP2Stats() HTTP2Stats {
	st := HTTP2Stats{Conns: s.h2Conns.Load(), Served: s.h2Served.Load(), Streams: s.h2Streams.Load(), OpenStreams: s.h2Open.Load(), Writes: s.h2Writes.Load(), Errors: map[string]uint64{}}
	for i := range s.h2Errors {
		if n := s.h2Errors[i].Load(); n > 0 {
			st.Errors[h2.ErrCode(i).String()] = n
		}
	}
	return st
}
