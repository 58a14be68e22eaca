// Package h2up connects the engine to backends spoken to in HTTP/2: targets whose `protocol`
// is "HTTP/2.0" (Otoroshi's field and value), over h2c with prior knowledge for a plaintext
// target and over TLS with ALPN h2 for a `tls: true` one, as Otoroshi's Netty client does.
//
// The engine only speaks HTTP/1.1 to backends, on its loops. Dial gives it, like upstls.Dial, the
// engine end of a Unix socketpair; a bridge goroutine reads HTTP/1.1 requests from the other end
// (http.ReadRequest: Content-Length or chunked bodies, chunked trailers), sends each as one
// HTTP/2 stream on a connection shared by every socketpair to that backend (Go's HTTP/2 client,
// http.Transport.NewClientConn), and writes the response back as HTTP/1.1: chunked with its
// trailers (or with Content-Length when the backend gave one and no trailer), each DATA read
// written and flushed as it comes, so streams in both directions are never buffered whole and
// the response may start while the request body is still being sent (full duplex, which
// bidirectional gRPC needs). A trailers-only gRPC response (grpc-status in the headers, no body)
// is written with its grpc-* status fields as trailers, the shape gRPC clients read.
//
// Failures: Dial makes sure a live HTTP/2 connection to the backend exists, or makes one (TCP,
// TLS), so a backend that is down or whose certificate fails verification is a dial error with
// upstls.Reason, handled by the engine like any other (502 errors.bad.gateway, retries, circuit
// breaker). A stream that cannot be sent later (the connection died meanwhile) closes the
// socketpair without a response: the engine retries a pooled connection once, or answers 502.
// When the engine closes its end (client gone, timeout), the stream is cancelled (RST_STREAM).
//
// Connections to one backend are multiplexed: a new one is dialed only when every live one is
// at its peer's concurrent-stream limit. Idle ones close after IdleTimeout.
package h2up

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/torii-gateway/torii/core/upstls"
	"github.com/torii-gateway/torii/internal/sockpair"
)

// IdleTimeout closes an HTTP/2 connection to a backend that carried no stream for that long.
const IdleTimeout = 90 * time.Second

// Buffer sizes of one bridge (one socketpair): requests are read through readBuf, held for
// the bridge's life (an idle pooled socketpair keeps only it and its goroutine); each response
// DATA read lands in a copyBuf and leaves in one write of at most writeBuf, both taken from a
// pool for the time of one response.
const (
	readBuf  = 4 << 10
	copyBuf  = 16 << 10
	writeBuf = copyBuf + 32
)

var writers = sync.Pool{New: func() any {
	return &writer{w: bufio.NewWriterSize(nil, writeBuf), buf: make([]byte, copyBuf)}
}}

// drainMax bounds the request body bytes read and dropped after a backend answered without
// reading them all, to keep the socketpair usable for the next request.
const drainMax = 256 << 10

// backendKey identifies one backend: address and TLS profile (0 for h2c).
type backendKey struct {
	addr string
	tls  uint32
}

var (
	backendsMu sync.Mutex
	backends   = map[backendKey]*backend{}
)

// backend is the HTTP/2 connections to one target address with one TLS profile.
type backend struct {
	addr string
	prof *upstls.Profile
	tr   *http.Transport

	mu    sync.Mutex
	conns []*http.ClientConn
}

func backendFor(addr string, prof *upstls.Profile) *backend {
	k := backendKey{addr: addr}
	if prof != nil {
		k.tls = prof.ID
	}
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if b := backends[k]; b != nil {
		return b
	}
	b := &backend{addr: addr, prof: prof}
	var p http.Protocols
	if prof == nil {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP2(true)
	}
	b.tr = &http.Transport{
		Protocols:          &p,
		Proxy:              nil,
		DisableCompression: true,
		IdleConnTimeout:    IdleTimeout,
		DialContext:        (&net.Dialer{}).DialContext,
		DialTLSContext:     b.dialTLS,
		// Requests relayed from the engine were checked there; responses may carry large
		// headers (the engine bounds what it accepts).
		MaxResponseHeaderBytes: 1 << 20,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     15 * time.Second,
		},
	}
	backends[k] = b
	return b
}

// dialTLS connects with the target's TLS profile offering h2 and refuses a backend that does
// not choose it (it would be spoken to in HTTP/1.1 over a connection meant for HTTP/2).
func (b *backend) dialTLS(ctx context.Context, _, addr string) (net.Conn, error) {
	c, err := upstls.DialALPN(ctx, addr, b.prof, []string{"h2"})
	if err != nil {
		return nil, err
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		_ = c.Close()
		return nil, fmt.Errorf("h2up: backend %s did not negotiate h2 with ALPN (got %q)", addr, p)
	}
	return c, nil
}

// Dial returns the engine end of a socketpair bridged to the backend at addr in HTTP/2 (h2c
// when prof is nil, h2 over TLS with prof otherwise). It makes sure a live HTTP/2 connection to
// the backend exists, dialing one within timeout if none does. Blocking: never call it on an
// event loop. An error wraps the cause; upstls.Reason classifies TLS failures.
func Dial(ctx context.Context, addr string, prof *upstls.Profile, timeout time.Duration) (*net.UnixConn, error) {
	b := backendFor(addr, prof)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := b.ready(ctx); err != nil {
		return nil, err
	}
	engine, ours, err := sockpair.New()
	if err != nil {
		return nil, err
	}
	go b.serve(ours)
	return engine, nil
}

// ready makes sure b has a live connection.
func (b *backend) ready(ctx context.Context) error {
	b.mu.Lock()
	b.pruneLocked()
	n := len(b.conns)
	b.mu.Unlock()
	if n > 0 {
		return nil
	}
	_, err := b.dial(ctx, false)
	return err
}

// pruneLocked drops the connections that can no longer be used.
func (b *backend) pruneLocked() {
	live := b.conns[:0]
	for _, c := range b.conns {
		if c.Err() == nil {
			live = append(live, c)
		} else {
			_ = c.Close()
		}
	}
	clear(b.conns[len(live):])
	b.conns = live
}

// dial opens a new connection to the backend and adds it to b; reserve reserves a stream on it.
func (b *backend) dial(ctx context.Context, reserve bool) (*http.ClientConn, error) {
	scheme := "http"
	if b.prof != nil {
		scheme = "https"
	}
	c, err := b.tr.NewClientConn(ctx, scheme, b.addr)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to HTTP/2 backend %s: %w", b.addr, err)
	}
	if reserve {
		if err := c.Reserve(); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("new HTTP/2 connection to %s refused a stream: %w", b.addr, err)
		}
	}
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
	return c, nil
}

// get returns a connection with a stream reserved for one request.
func (b *backend) get(ctx context.Context) (*http.ClientConn, error) {
	b.mu.Lock()
	b.pruneLocked()
	for _, c := range b.conns {
		if c.Reserve() == nil {
			b.mu.Unlock()
			return c, nil
		}
	}
	b.mu.Unlock()
	return b.dial(ctx, true)
}

// serve bridges one socketpair: HTTP/1.1 requests in, one HTTP/2 stream each.
func (b *backend) serve(c *net.UnixConn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, readBuf)
	var next <-chan error // the watcher of the previous exchange, which peeked the next request
	for {
		var err error
		if next != nil {
			err = <-next
		} else {
			_, err = br.Peek(1)
		}
		if err != nil {
			return
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		var ok bool
		if next, ok = b.exchange(c, br, req); !ok {
			return
		}
	}
}

// exchange sends req as an HTTP/2 stream and writes its response back on c. It reports whether
// c may carry another request; next, when not nil, delivers the result of peeking at it.
func (b *backend) exchange(c *net.UnixConn, br *bufio.Reader, req *http.Request) (next <-chan error, ok bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keep := !req.Close
	body := &reqBody{rc: req.Body, eof: make(chan struct{})}
	if req.Body == nil || req.Body == http.NoBody {
		close(body.eof)
		body.sawEOF = true
	} else {
		if req.ContentLength < 0 && req.Trailer == nil {
			// A chunked body may end with trailers: ReadRequest merges them into this map,
			// which the HTTP/2 client reads once the body is done.
			req.Trailer = http.Header{}
		}
		req.Body = body
	}
	req.RequestURI = ""
	req.URL.Host = b.addr
	req.URL.Scheme = "http"
	if b.prof != nil {
		req.URL.Scheme = "https"
	}
	req.Header["Te"] = []string{"trailers"} // we relay trailers (gRPC servers want to be told)
	req = req.WithContext(ctx)

	// Once the request body is all read, a watcher reads ahead on the socketpair: its end
	// (the engine gave up on the exchange: client gone, timeout) cancels the stream; bytes
	// are the next request, left in br.
	peek := make(chan error, 1)
	stop := make(chan struct{})
	defer func() {
		if !ok {
			close(stop)
		}
	}()
	go func() {
		select {
		case <-body.eof:
		case <-stop:
			peek <- errAbandoned
			return
		}
		_, err := br.Peek(1)
		if err != nil {
			cancel()
		}
		peek <- err
	}()

	cc, err := b.get(ctx)
	if err != nil {
		return nil, false
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	out := writers.Get().(*writer)
	out.w.Reset(c)
	wrote := out.response(req, resp)
	out.w.Reset(nil)
	writers.Put(out)
	if !wrote {
		return nil, false
	}
	if !body.done() {
		// The backend answered without reading the whole request body: what the engine
		// still sends of it is read and dropped, or the connection is not reused.
		if !body.drain(c) {
			return nil, false
		}
	}
	return peek, keep && !resp.Close
}

// reqBody is a request body as the HTTP/2 client reads it, telling when it has all been read.
type reqBody struct {
	mu     sync.Mutex
	rc     io.ReadCloser
	sawEOF bool
	eof    chan struct{}
}

func (r *reqBody) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sawEOF {
		return 0, io.EOF
	}
	n, err := r.rc.Read(p)
	if err == io.EOF {
		r.sawEOF = true
		close(r.eof)
	}
	return n, err
}

// Close does not close the socketpair behind the body: the bridge decides what happens to it.
func (r *reqBody) Close() error { return nil }

func (r *reqBody) done() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sawEOF
}

// drain reads and drops the rest of the body for a short while; it reports whether it ended.
func (r *reqBody) drain(c *net.UnixConn) bool {
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	_, err := io.CopyN(io.Discard, r, drainMax)
	return err == io.EOF
}

// skipResponse lists, in canonical form, the response fields not relayed: hop-by-hop and
// framing fields, which the bridge writes itself.
var skipResponse = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true,
	"Upgrade": true, "Content-Length": true, "Trailer": true,
}

// grpcStatusFields are the fields of a gRPC status, moved from the headers of a trailers-only
// response to its trailers.
var grpcStatusFields = []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"}

// writer writes a response on a bridge's socketpair (pooled buffers: writers).
type writer struct {
	w   *bufio.Writer
	buf []byte
}

// response writes resp as HTTP/1.1, streaming its body; it reports success.
func (o *writer) response(req *http.Request, resp *http.Response) bool {
	w := o.w
	var moved http.Header
	noBody := req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusNotModified || resp.StatusCode < 200
	if !noBody && resp.Header.Get("Grpc-Status") != "" {
		// Trailers-only (gRPC): the status in the headers means there is no body (Go's
		// HTTP/2 client does not say whether the HEADERS frame ended the stream).
		moved = http.Header{}
		for _, k := range grpcStatusFields {
			if v, ok := resp.Header[k]; ok {
				moved[k] = v
				delete(resp.Header, k)
			}
		}
	}
	chunked := !noBody && (resp.ContentLength < 0 || len(resp.Trailer) > 0 || moved != nil)
	_, _ = w.WriteString("HTTP/1.1 ")
	_, _ = w.WriteString(strconv.Itoa(resp.StatusCode))
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(http.StatusText(resp.StatusCode))
	_, _ = w.WriteString("\r\n")
	writeFields(w, resp.Header, skipResponse)
	switch {
	case chunked:
		_, _ = w.WriteString("Transfer-Encoding: chunked\r\n")
	case !noBody || req.Method == http.MethodHead && resp.ContentLength >= 0:
		_, _ = w.WriteString("Content-Length: ")
		_, _ = w.WriteString(strconv.FormatInt(max(resp.ContentLength, 0), 10))
		_, _ = w.WriteString("\r\n")
	}
	_, _ = w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		return false
	}
	if noBody {
		return true
	}
	if !chunked {
		n, err := io.CopyBuffer(flushWriter{w}, io.LimitReader(resp.Body, resp.ContentLength), o.buf)
		return err == nil && n == resp.ContentLength
	}
	buf := o.buf
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			_, _ = w.WriteString(strconv.FormatInt(int64(n), 16))
			_, _ = w.WriteString("\r\n")
			_, _ = w.Write(buf[:n])
			_, _ = w.WriteString("\r\n")
			if w.Flush() != nil {
				return false
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return false
		}
	}
	_, _ = w.WriteString("0\r\n")
	writeFields(w, resp.Trailer, nil)
	writeFields(w, moved, nil)
	_, _ = w.WriteString("\r\n")
	return w.Flush() == nil
}

// writeFields writes h's fields, but those in skip, as HTTP/1.1 field lines. Go's HTTP/2
// client has checked names and values (no CR, LF or NUL).
func writeFields(w *bufio.Writer, h http.Header, skip map[string]bool) {
	for k, vv := range h {
		if skip[k] || k == "" || strings.HasPrefix(k, ":") {
			continue
		}
		for _, v := range vv {
			_, _ = w.WriteString(k)
			_, _ = w.WriteString(": ")
			_, _ = w.WriteString(v)
			_, _ = w.WriteString("\r\n")
		}
	}
}

// flushWriter flushes every write: body bytes leave as they come.
type flushWriter struct{ w *bufio.Writer }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}

// errAbandoned ends a watcher whose exchange failed: the socketpair is closed.
var errAbandoned = errors.New("h2up: exchange abandoned")
