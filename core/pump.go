package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/torii-gateway/torii/httpparse"
)

// pumpKind is what a pump goroutine copies.
type pumpKind uint8

const (
	pumpDownload pumpKind = iota + 1 // the response body, upstream → client
	pumpUpload                       // the request body, client → upstream
	pumpTunnel                       // both ways, after a 101
	// pumpDuplex copies both bodies at once, each with its framing: the response of an
	// HTTP/2 target (h2up) streaming while the request body is still open (bidirectional
	// gRPC). See beginPump.
	pumpDuplex
)

// errPumpInterrupted ends an upload pump that handed its exchange back to the loop
// before the request body's end, because the backend started its response
// (pumpUploadWatched).
var errPumpInterrupted = errors.New("core: upload pump interrupted by the response")

// pumpBuf is the copy buffer of a pump that must look at the bytes (chunked
// bodies, chunk encoding); length-framed bodies and tunnels splice instead.
const pumpBuf = 64 << 10

// pumpJob is one exchange handed over to a pump goroutine. It is built on the
// loop; once both sockets are detached, the goroutine owns it and the two
// connection structs until it enrolls them back or closes them.
type pumpJob struct {
	kind             pumpKind
	cc               *clientConn
	us               *upstreamConn
	client, upstream pumpConn
	clientCarry      []byte // client bytes gnet had read but we had not consumed
	upCarry          []byte
	clientIn         bool // the client is still registered in gnet, draining
	upIn             bool
	deadline         time.Time
	moved            int64 // body bytes the pump relayed (as read), for the event and metrics
	movedUp          int64 // request body bytes of a pumpDuplex (moved counts the response's)
}

// pumpConn is a socket a pump copies on with blocking I/O: a TCP
// connection, or the Unix socketpair end of a client enrolled by its way in
// (entry.go).
type pumpConn interface {
	net.Conn
	CloseWrite() error
}

// detachConn takes the socket of c out of gnet's hands: it duplicates the
// descriptor into a blocking-I/O connection (Go's poller gives it real flow
// control, and splice between TCP sockets on Linux) and copies what gnet had
// buffered inbound. The caller then closes c in gnet, which closes only gnet's
// descriptor. c's outbound buffer must be empty: gnet would drop its rest.
func detachConn(c gnet.Conn) (pumpConn, []byte, error) {
	fd, err := c.Dup()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot duplicate socket: %w", err)
	}
	var carry []byte
	if c.InboundBuffered() > 0 {
		b, _ := c.Peek(-1)
		carry = append([]byte(nil), b...)
		_, _ = c.Discard(-1)
	}
	f := os.NewFile(uintptr(fd), "torii-pump")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot wrap socket: %w", err)
	}
	tc, ok := nc.(pumpConn)
	if !ok {
		_ = nc.Close()
		return nil, nil, fmt.Errorf("cannot pump a %T", nc)
	}
	return tc, carry, nil
}

// joinCarry returns the bytes of a connection not consumed yet: its own
// carry (taken back from an earlier pump) followed by gnet's inbound bytes.
func joinCarry(own, gnetBytes []byte) []byte {
	if len(own) == 0 {
		return gnetBytes
	}
	return append(append([]byte(nil), own...), gnetBytes...)
}

// pumpDownload hands cc's response body over to a pump: the upstream leaves
// the loop now (so that gnet stops reading it into memory), the client once
// its outbound buffer has drained.
func (lp *loop) pumpDownload(cc *clientConn, us *upstreamConn) {
	lp.beginPump(cc, us, pumpDownload)
}

// pumpUpload hands cc's request body over to a pump: the client leaves the
// loop now, the upstream once its outbound buffer has drained.
func (lp *loop) pumpUpload(cc *clientConn) {
	lp.beginPump(cc, cc.up, pumpUpload)
}

// beginPump hands cc's exchange with us over to a pump of that kind, once the
// outbound buffers have drained (pumpFlushCheck).
//
// For an HTTP/2 target (us.h2: a gRPC backend through h2up), whose response may
// stream while the request body is still open, a pump of one direction would
// stop the other and can deadlock a backend that answers each message before
// reading the next: the response of such an exchange is pumped together with
// the rest of the request body (pumpDuplex), and an upload pump that starts
// before the response head hands the exchange back to the loop as soon as the
// response begins (pumpUploadWatched), so that the loop relays its head.
func (lp *loop) beginPump(cc *clientConn, us *upstreamConn, kind pumpKind) {
	if us.h2 && (kind == pumpDownload && !cc.reqDone || kind == pumpUpload && us.gotHead) {
		kind = pumpDuplex
	}
	job := &pumpJob{kind: kind, cc: cc, us: us, clientIn: true, upIn: true,
		deadline: lp.s.start.Add(msDuration(cc.deadline))}
	if kind == pumpTunnel {
		job.deadline = time.Time{}
	}
	cc.pump = job
	cc.state = csPumped
	us.state = usPumpWait
	lp.unlinkClient(cc)
	lp.armClient(cc, tkPump, cc.deadline)
	if kind == pumpTunnel {
		lp.wheel.disarm(&cc.t)
	}
	lp.s.pumps.Add(1)
	lp.s.pumped.Add(1)
	if !lp.pumpFlushCheck(cc) {
		lp.watchFlush(cc)
	}
}

// pumpFlushCheck detaches every side of cc's pump whose outbound buffer is
// empty and starts the pump once both are out. It reports whether cc no
// longer needs watching.
func (lp *loop) pumpFlushCheck(cc *clientConn) bool {
	job := cc.pump
	if job == nil {
		return true
	}
	if job.upIn && job.us.c.OutboundBuffered() == 0 {
		tc, carry, err := detachConn(job.us.c)
		if err != nil {
			lp.s.log.Warn("cannot hand exchange to a pump", "err", err)
			lp.pumpAbort(cc)
			return true
		}
		job.upstream, job.upCarry, job.upIn = tc, joinCarry(job.us.carry, carry), false
		job.us.carry = nil
		job.us.state = usPumped
		lp.closeConn(job.us.c)
	}
	if job.clientIn && cc.c.OutboundBuffered() == 0 {
		tc, carry, err := detachConn(cc.c)
		if err != nil {
			lp.s.log.Warn("cannot hand exchange to a pump", "err", err)
			lp.pumpAbort(cc)
			return true
		}
		job.client, job.clientCarry, job.clientIn = tc, joinCarry(cc.carry, carry), false
		cc.carry = nil
		lp.closeConn(cc.c)
	}
	if job.clientIn || job.upIn {
		return false
	}
	lp.wheel.disarm(&cc.t)
	if lp.closeCur {
		// A detached socket is the current callback's: gnet closes it, and
		// runs its OnClose, when the callback returns. The pump starts after
		// that, or a quick pump (a small gzip body) could hand the upstream
		// back before the old OnClose saw it as pumped.
		run := gnet.RunnableFunc(func(context.Context) error { go lp.s.runPump(lp, job); return nil })
		if lp.el.Execute(context.Background(), run) == nil {
			return true
		}
	}
	go lp.s.runPump(lp, job)
	return true
}

// pumpAbort ends a pump that could not start: everything closes.
func (lp *loop) pumpAbort(cc *clientConn) {
	job := cc.pump
	if job == nil {
		return
	}
	cc.pump = nil
	if job.client != nil {
		_ = job.client.Close()
	}
	if job.upstream != nil {
		_ = job.upstream.Close()
	}
	if job.upIn && job.us.c != nil {
		job.us.state = usClosing
		lp.closeConn(job.us.c)
	}
	cc.up = nil
	lp.s.endExchange(lp, cc, nil, endFailed, errBadGateway)
	lp.s.pumps.Done()
	if job.clientIn {
		cc.state = csClosing
		lp.closeConn(cc.c)
		return
	}
	lp.s.conns.Add(-1)
}

// runPump is the pump goroutine. It blocks on the two sockets, so TCP flow
// control paces both peers and memory stays at one buffer per pump.
func (s *Server) runPump(lp *loop, job *pumpJob) {
	defer s.pumps.Done()
	s.pumpMu.Lock()
	if s.active == nil {
		s.active = make(map[*pumpJob]struct{})
	}
	s.active[job] = struct{}{}
	s.pumpMu.Unlock()
	defer func() {
		s.pumpMu.Lock()
		delete(s.active, job)
		s.pumpMu.Unlock()
	}()
	if !job.deadline.IsZero() {
		_ = job.client.SetDeadline(job.deadline)
		_ = job.upstream.SetDeadline(job.deadline)
	}
	var err error
	switch job.kind {
	case pumpDownload:
		err = s.pumpResponse(job)
	case pumpUpload:
		if job.us.h2 {
			err = s.pumpUploadWatched(job)
		} else {
			err = s.pumpRequest(job)
		}
	case pumpTunnel:
		s.pumpBoth(job)
		err = errTunnelDone
	case pumpDuplex:
		err = s.pumpDuplex(job)
	}
	cc := job.cc
	cc.obsPumped(job.kind, job.moved)
	if job.kind == pumpDuplex {
		cc.obsPumped(pumpUpload, job.movedUp)
	}
	if job.kind == pumpUpload && (err == nil || err == errPumpInterrupted) {
		// The request body is through: the response comes back on the
		// loop, client first, then upstream. The exchange goes on there.
		_ = job.client.SetDeadline(time.Time{})
		_ = job.upstream.SetDeadline(time.Time{})
		// An interrupted upload (cc in csBody) goes on on the loop too, once
		// both are back (reattachUpstream).
		if s.enroll(lp, cc, job.client) {
			if !s.enroll(lp, job.us, job.upstream) {
				_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
					if cc.up == job.us {
						cc.up = nil
						lp.abortExchange(cc, errBadGateway)
					}
					return nil
				}))
			}
		} else {
			_ = job.upstream.Close()
			s.endExchange(lp, cc, nil, endFailed, errBadGateway)
		}
		return
	}
	// The exchange ends here (for a tunnel, it ended at the 101: only the
	// decision, close both, is left).
	how := endDone
	if err != nil {
		how = endFailed
	}
	end := s.endExchange(lp, cc, job.us, how, errBadGateway)
	if end.poolUpstream {
		// The backend connection is still good: back to its loop's pool
		// (onUpstreamOpen parks it).
		_ = job.upstream.SetDeadline(time.Time{})
		job.us.cc = nil
		job.us.state = usReturning
		s.enroll(lp, job.us, job.upstream)
	} else {
		_ = job.upstream.Close()
	}
	if end.keepClient {
		_ = job.client.SetDeadline(time.Time{})
		cc.state = csHead
		cc.up = nil
		s.enroll(lp, cc, job.client)
		return
	}
	_ = job.client.Close()
	s.conns.Add(-1)
}

// killPumps closes the sockets of every running pump, which makes their
// copies fail and their goroutines end: a shutdown past its grace period.
func (s *Server) killPumps() {
	s.pumpMu.Lock()
	defer s.pumpMu.Unlock()
	for job := range s.active {
		_ = job.client.Close()
		_ = job.upstream.Close()
	}
}

var errTunnelDone = errors.New("core: tunnel closed")

// enroll gives nc back to loop lp with ctx as its connection context. When
// it fails the connection is closed (and counted closed for a client).
func (s *Server) enroll(lp *loop, ctx any, nc net.Conn) bool {
	ch, err := lp.el.Enroll(gnet.NewContext(context.Background(), ctx), nc)
	if err == nil {
		if res := <-ch; res.Err != nil {
			err = res.Err
		}
	} else {
		_ = nc.Close()
	}
	if err != nil {
		if _, isClient := ctx.(*clientConn); isClient {
			s.conns.Add(-1)
		}
		s.log.Debug("cannot enroll connection back into its loop", "err", err)
		return false
	}
	return true
}

// onClientReopen runs when a pumped client connection is back on its loop.
func (lp *loop) onClientReopen(cc *clientConn, c gnet.Conn) gnet.Action {
	lp.enter(c)
	cc.c = c
	cc.pump = nil
	lp.linkClient(cc)
	cc.carry = append(cc.carry[:0], cc.pumpCarry...)
	cc.pumpCarry = nil
	switch cc.state {
	case csHead:
		lp.releaseExchange(cc) // the pumped exchange is over
		lp.armClient(cc, tkIdle, lp.s.now()+lp.s.cfg.IdleTimeout.Milliseconds())
		if lp.processClient(cc) == gnet.Close {
			lp.closeCur = true
		}
	case csWait:
		lp.armExchange(cc, tkResponse, cc.timeouts.response)
	case csBody:
		// An upload pump interrupted by the response (pumpUploadWatched): the
		// body goes on once the upstream is back too (reattachUpstream).
		lp.armUpload(cc)
	}
	return lp.leave(gnet.None)
}

// reattachUpstream runs when a pumped upstream connection is back on its loop.
func (lp *loop) reattachUpstream(us *upstreamConn) {
	cc := us.cc
	if us.abandoned || cc == nil || cc.up != us {
		us.state = usClosing
		us.cc = nil
		lp.closeConn(us.c)
		return
	}
	us.state = usActive
	if lp.processUpstream(us) == gnet.Close {
		lp.closeCur = true
		return
	}
	if cc.up == us && cc.state == csBody && lp.inboundLen(cc) > 0 {
		// The rest of a request body the client sent while both were away.
		if lp.processClient(cc) == gnet.Close {
			lp.closeConn(cc.c)
		}
	}
}

// pumpResponse copies the rest of the response body from job.upstream to
// job.client, framed as the head announced.
func (s *Server) pumpResponse(job *pumpJob) error {
	us := job.us
	client, up := job.client, job.upstream
	if us.out == outGzip {
		return s.pumpGzip(job)
	}
	switch us.framing {
	case httpparse.FramingLength:
		left := us.left
		if len(job.upCarry) > 0 {
			n := min(int64(len(job.upCarry)), left)
			if _, err := client.Write(job.upCarry[:n]); err != nil {
				return err
			}
			job.moved += n
			left -= n
		}
		if left == 0 {
			return nil
		}
		n, err := io.CopyN(client, up, left) // splice(2) on Linux
		job.moved += n
		if err != nil {
			return fmt.Errorf("cannot pump response body (%d of %d bytes): %w", n, left, err)
		}
		return nil
	case httpparse.FramingChunked:
		src := &limitReader{r: up, left: bodyBudget(job.cc.body.respMax, job.cc.body.sent)}
		var grpc *uint8
		if us.h2 {
			grpc = &job.cc.obs.grpc // the pump owns cc
		}
		_, n, err := pumpChunked(client, src, job.upCarry, &us.dec, us.out == outDechunk, true, grpc)
		job.moved += n
		return err
	default:
		buf := make([]byte, pumpBuf)
		if len(job.upCarry) > 0 {
			if err := writeBody(client, job.upCarry, us.out == outChunk); err != nil {
				return err
			}
			job.moved += int64(len(job.upCarry))
		}
		src := &limitReader{r: up, left: bodyBudget(job.cc.body.respMax, job.cc.body.sent)}
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if werr := writeBody(client, buf[:n], us.out == outChunk); werr != nil {
					return werr
				}
				job.moved += int64(n)
			}
			if err == io.EOF {
				if us.out == outChunk {
					_, err = client.Write(lastChunk)
					return err
				}
				// The body ended with the backend's close: so must ours.
				job.cc.keepAlive = false
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}

func writeBody(w io.Writer, b []byte, chunk bool) error {
	if !chunk {
		_, err := w.Write(b)
		return err
	}
	var frame []byte
	frame = appendChunkSize(frame, len(b))
	frame = append(frame, b...)
	frame = append(frame, crlf...)
	_, err := w.Write(frame)
	return err
}

// pumpChunked copies a chunked body from src to dst until its end, with the
// decoder state dec already advanced over what the loop consumed. dechunk
// writes only the chunk data (for an HTTP/1.0 peer); otherwise the trailer
// fields are filtered (filterTrailer, keepUnderscores). It returns a copy of
// the bytes read past the body's end (a pipelined request, for a request body)
// and the number of body bytes it decoded (framing included, as the loop counts
// them), also when it fails. With grpc not nil, the grpc-status of the trailers
// (plus one, grpc.go) is stored there when they have one.
func pumpChunked(dst io.Writer, src io.Reader, carry []byte, dec *httpparse.ChunkedDecoder, dechunk, keepUnderscores bool, grpc *uint8) ([]byte, int64, error) {
	buf := make([]byte, pumpBuf)
	n := copy(buf, carry)
	if n < len(carry) {
		return nil, 0, errors.New("core: carry larger than the pump buffer")
	}
	var moved int64
	for {
		off := 0
		for off < n {
			m, data, done, err := dec.Decode(buf[off:n])
			if err == httpparse.ErrNeedMore {
				break
			}
			if err != nil {
				return nil, moved, fmt.Errorf("cannot pump chunked body: %w", err)
			}
			if done && grpc != nil {
				if g := grpcStatusInTrailer(buf[off : off+m]); g != 0 {
					*grpc = g
				}
			}
			if dechunk {
				if data.Len() > 0 {
					if _, err := dst.Write(buf[off+int(data.Start) : off+int(data.End)]); err != nil {
						return nil, moved, err
					}
				}
			} else {
				k := m
				if done {
					k = filterTrailer(buf[off:off+m], keepUnderscores)
				}
				if _, err := dst.Write(buf[off : off+k]); err != nil {
					return nil, moved, err
				}
			}
			off += m
			moved += int64(m)
			if done {
				return append([]byte(nil), buf[off:n]...), moved, nil
			}
		}
		n = copy(buf, buf[off:n])
		if n == len(buf) {
			return nil, moved, errors.New("core: chunked element larger than the pump buffer")
		}
		r, err := src.Read(buf[n:])
		n += r
		if err != nil && r == 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			// What was read but not decoded yet, for a pump interrupted
			// mid-body that gives the exchange back to the loop.
			return append([]byte(nil), buf[:n]...), moved, err
		}
	}
}

// pumpRequest copies the rest of the request body from job.client to
// job.upstream. What follows the body in the client carry (a pipelined
// request) stays in the carry for the loop.
func (s *Server) pumpRequest(job *pumpJob) error {
	cc := job.cc
	carry, err := s.pumpRequestBody(job, &job.moved)
	cc.bodySent = true
	if err != nil {
		return err
	}
	cc.reqDone = true
	cc.state = csWait
	cc.pumpCarry = carry
	job.us.carry = job.upCarry
	return nil
}

// pumpRequestBody copies the rest of the request body from job.client to
// job.upstream, counting the bytes in *moved, and returns what the client sent
// past the body's end. When it fails, cc's body state (reqLeft, reqDec) says
// how far it went and the bytes returned are those read but not yet written
// (a chunked element cut by the failure), for pumpUploadWatched.
func (s *Server) pumpRequestBody(job *pumpJob, moved *int64) ([]byte, error) {
	cc := job.cc
	client, up := job.client, job.upstream
	carry := job.clientCarry
	switch cc.reqFraming {
	case httpparse.FramingLength:
		n := min(int64(len(carry)), cc.reqLeft)
		if n > 0 {
			if _, err := up.Write(carry[:n]); err != nil {
				return nil, err
			}
			*moved += n
			cc.reqLeft -= n
			carry = carry[n:]
		}
		if cc.reqLeft > 0 {
			left := cc.reqLeft
			m, err := io.CopyN(up, client, left)
			*moved += m
			cc.reqLeft -= m
			if err != nil {
				return nil, fmt.Errorf("cannot pump request body (%d of %d bytes): %w", m, left, err)
			}
		}
	case httpparse.FramingChunked:
		src := &limitReader{r: client, left: bodyBudget(cc.body.reqMax, cc.body.got)}
		rest, n, err := pumpChunked(up, src, carry, &cc.reqDec, false, cc.pol.keepUnderscores, nil)
		*moved += n
		if err != nil {
			return rest, err
		}
		carry = rest
	}
	return carry, nil
}

// pumpUploadWatched is pumpRequest for an HTTP/2 target, whose response may
// begin while the request body is still open: a watcher reads the upstream
// meanwhile, and its first bytes (or its end) interrupt the copy between two
// writes, giving the exchange back to the loop (errPumpInterrupted, cc in
// csBody) with the bytes read on either side as carries. The loop then relays
// the response head and goes on in full duplex (pumpDuplex under backpressure).
func (s *Server) pumpUploadWatched(job *pumpJob) error {
	cc := job.cc
	var got []byte
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if len(job.upCarry) == 0 {
			// (Bytes in the carry: the response began while the pump waited to start.)
			buf := make([]byte, pumpBuf)
			n, _ := job.upstream.Read(buf)
			got = buf[:n]
		}
		// The response began (or the upstream ended): stop reading the client.
		_ = job.client.SetReadDeadline(time.Now())
	}()
	carry, err := s.pumpRequestBody(job, &job.moved)
	cc.bodySent = true
	_ = job.upstream.SetReadDeadline(time.Now())
	<-watched
	_ = job.upstream.SetReadDeadline(job.deadline)
	_ = job.client.SetReadDeadline(job.deadline)
	job.us.carry = joinCarry(job.upCarry, got)
	if err == nil {
		cc.reqDone = true
		cc.state = csWait
		cc.pumpCarry = carry
		return nil
	}
	if !isTimeout(err) || !job.deadline.IsZero() && !time.Now().Before(job.deadline) {
		return err // a failure, or the call's own deadline
	}
	// Interrupted mid-body: what was read of the client and not written goes
	// back to the loop, which decodes it again from the body state.
	cc.state = csBody
	cc.pumpCarry = carry
	cc.body.got += job.moved // framing included: the bound errs on the safe side
	return errPumpInterrupted
}

// isTimeout reports whether err is a deadline passing (an interrupted copy).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// pumpDuplex copies the response body to the client and the rest of the
// request body to the upstream at once (an HTTP/2 target's full-duplex
// exchange, see beginPump). The exchange ends with the response: a request
// body still open then is cut (the client connection closes, as endExchange
// decides for a request not done).
func (s *Server) pumpDuplex(job *pumpJob) error {
	cc := job.cc
	upDone := make(chan error, 1)
	go func() {
		carry, err := s.pumpRequestBody(job, &job.movedUp)
		if err == nil {
			cc.reqDone = true
			cc.pumpCarry = carry
		}
		upDone <- err
	}()
	err := s.pumpResponse(job)
	var upErr error
	select {
	case upErr = <-upDone:
	default:
		// The response is over, the request body is not: stop copying it.
		_ = job.client.SetReadDeadline(time.Now())
		_ = job.upstream.SetWriteDeadline(time.Now())
		<-upDone
	}
	cc.bodySent = true
	if err == nil && upErr != nil && !isTimeout(upErr) {
		s.log.Debug("request body of a full-duplex exchange cut", "err", upErr)
	}
	return err
}

// pumpBoth relays an upgraded connection both ways until either side ends.
func (s *Server) pumpBoth(job *pumpJob) {
	client, up := job.client, job.upstream
	done := make(chan struct{}, 2)
	relay := func(dst, src pumpConn, carry []byte) {
		defer func() { done <- struct{}{} }()
		if len(carry) > 0 {
			if _, err := dst.Write(carry); err != nil {
				return
			}
		}
		_, _ = io.Copy(dst, src)
		_ = dst.CloseWrite()
	}
	go relay(up, client, job.clientCarry)
	go relay(client, up, job.upCarry)
	<-done
	<-done
	job.cc.keepAlive = false
}
