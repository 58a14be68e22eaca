package h2edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/internal/sockpair"
	"github.com/torii-gateway/torii/proxyproto"
)

// Defaults of Config. Each bounds what one connection can make the server hold. The limits
// are the engine's own HTTP/2 server's (core.DefaultH2*), so both servers default alike.
const (
	// DefaultMaxConcurrentStreams bounds the streams (and so the engine-side socketpairs) open
	// at once per connection; x/net refuses more (REFUSED_STREAM) and closes a connection
	// whose resets outrun its handlers (rapid reset, CVE-2023-44487). nginx: 128, HAProxy: 100.
	DefaultMaxConcurrentStreams = core.DefaultH2MaxStreams
	// DefaultMaxHeaderListSize bounds a decoded header list (HPACK bomb, CONTINUATION flood):
	// the same 32 KiB as the HTTP/1.1 head limit order of magnitude, x/net counts every
	// CONTINUATION frame against it.
	DefaultMaxHeaderListSize = core.DefaultH2MaxHeaderList
	// DefaultStreamWindow and DefaultConnWindow are the flow-control windows granted to the
	// client, i.e. the request body bytes buffered per stream and per connection.
	DefaultStreamWindow = core.DefaultH2StreamWindow
	DefaultConnWindow   = core.DefaultH2ConnWindow
	// DefaultIdleTimeout closes a connection without streams; DefaultPingAfter sends a PING
	// when nothing was read for that long and DefaultPingTimeout closes the connection when
	// the PING gets no answer (zero-window stalls and dead peers).
	DefaultIdleTimeout = core.DefaultH2IdleTimeout
	DefaultPingAfter   = core.DefaultH2PingAfter
	DefaultPingTimeout = core.DefaultH2PingTimeout
	// DefaultWriteTimeout closes a connection that accepts no byte for that long (a client
	// that stops reading while the server has frames queued).
	DefaultWriteTimeout = core.DefaultH2WriteTimeout
	// DefaultIdleUpstreams is the number of idle socketpairs into the engine a connection keeps.
	DefaultIdleUpstreams = 8
)

// Config configures a Server; zero values take the defaults above.
type Config struct {
	// Enroll hands the engine its end of a socketpair; a PROXY v2 header, then HTTP/1.1
	// requests arrive on it (core.Server.Enroll(nc, nil)). Required.
	Enroll               func(net.Conn) error
	MaxConcurrentStreams uint32
	MaxHeaderListSize    uint32
	StreamWindow         int32
	ConnWindow           int32
	IdleTimeout          time.Duration
	PingAfter            time.Duration
	PingTimeout          time.Duration
	WriteTimeout         time.Duration
	IdleUpstreams        int
	// CountError, when set, is called with the kind of each protocol error x/net counts
	// (rapid resets, floods, malformed frames), for metrics.
	CountError func(kind string)
	Logger     *slog.Logger
}

// Server serves HTTP/2 connections. Safe for concurrent use.
//
// One net/http Server (whose HTTP/2 is x/net/http2's server, bundled in the standard library;
// x/net v0.63 deprecates its own http2.Server in favour of it) serves every connection handed to
// Serve through an in-memory listener. Per connection, ConnContext attaches the connection's
// state (its client description and its transport into the engine) to every stream's context.
type Server struct {
	cfg   Config
	hs    *http.Server
	ln    *connListener
	conns sync.Map // net.Conn -> *connState, from Serve until the connection closes
	start sync.Once

	active, served atomic.Int64
	open           atomic.Int64 // streams being served now
	streams        atomic.Uint64
	errMu          sync.Mutex
	errs           map[string]uint64 // by x/net's error kind (a bounded set of names)
}

// Stats are the server's counters. Errors counts the protocol errors x/net reported, by kind
// ("conn_ENHANCE_YOUR_CALM_too_many_early_resets" for rapid reset, "conn_close_lost_ping"...).
type Stats struct {
	Conns   int64  // HTTP/2 connections open now
	Served  int64  // connections served since the start
	Streams uint64 // streams handled (requests, refused ones included)
	// OpenStreams is the number of streams being served now.
	OpenStreams int64
	Errors      map[string]uint64
}

// Stats returns a copy of the counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	st := Stats{Conns: s.active.Load(), Served: s.served.Load(), Streams: s.streams.Load(), OpenStreams: s.open.Load(), Errors: map[string]uint64{}}
	s.errMu.Lock()
	for k, n := range s.errs {
		st.Errors[k] = n
	}
	s.errMu.Unlock()
	return st
}

func (s *Server) countError(kind string) {
	s.errMu.Lock()
	s.errs[kind]++
	s.errMu.Unlock()
	if s.cfg.CountError != nil {
		s.cfg.CountError(kind)
	}
}

// connState is one HTTP/2 connection's link to the engine.
type connState struct {
	rp   *httputil.ReverseProxy
	tr   *http.Transport
	done chan struct{}
}

type connKey struct{}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Enroll == nil {
		return nil, errors.New("h2edge: Config.Enroll is required")
	}
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if cfg.MaxHeaderListSize == 0 {
		cfg.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if cfg.StreamWindow == 0 {
		cfg.StreamWindow = DefaultStreamWindow
	}
	if cfg.ConnWindow == 0 {
		cfg.ConnWindow = DefaultConnWindow
	}
	if cfg.StreamWindow < 1<<16-1 || cfg.ConnWindow < cfg.StreamWindow {
		return nil, fmt.Errorf("h2edge: windows must be at least 65535 and the connection's at least the stream's: stream %d, connection %d", cfg.StreamWindow, cfg.ConnWindow)
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.PingAfter == 0 {
		cfg.PingAfter = DefaultPingAfter
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.IdleUpstreams == 0 {
		cfg.IdleUpstreams = DefaultIdleUpstreams
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, ln: newConnListener(), errs: map[string]uint64{}}
	var protos http.Protocols
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	s.hs = &http.Server{
		Handler:        http.HandlerFunc(s.serveStream),
		Protocols:      &protos,
		MaxHeaderBytes: int(cfg.MaxHeaderListSize),
		IdleTimeout:    cfg.IdleTimeout,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: int(cfg.MaxConcurrentStreams),
			// RFC 9113's initial 16 KiB, not Go's 1 MiB default: smaller buffers per connection,
			// and peers (h2spec) that ignore our SETTINGS get the size they expect.
			MaxReadFrameSize:              1 << 14,
			MaxReceiveBufferPerStream:     int(cfg.StreamWindow),
			MaxReceiveBufferPerConnection: int(cfg.ConnWindow),
			SendPingTimeout:               cfg.PingAfter,
			PingTimeout:                   cfg.PingTimeout,
			WriteByteTimeout:              cfg.WriteTimeout,
			CountError:                    s.countError,
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			st, _ := s.conns.Load(c)
			return context.WithValue(ctx, connKey{}, st)
		},
		ConnState: func(c net.Conn, cs http.ConnState) {
			if cs != http.StateClosed && cs != http.StateHijacked {
				return
			}
			if st, ok := s.conns.LoadAndDelete(c); ok {
				st := st.(*connState)
				st.tr.CloseIdleConnections()
				close(st.done)
			}
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return s, nil
}

// Config returns the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// Serve serves the HTTP/2 connection c until it ends; info describes the client for the engine
// (its ALPN is set to h2). c is a *tls.Conn whose handshake chose h2, or a plaintext connection
// that starts with the client preface (h2c with prior knowledge). Blocks; c is closed when it
// returns.
func (s *Server) Serve(c net.Conn, info proxyproto.Info) {
	s.start.Do(func() { go func() { _ = s.hs.Serve(s.ln) }() })
	info.ALPN = "h2"
	up := &upstreams{s: s, hdr: proxyproto.Append(make([]byte, 0, 256), &info)}
	tr := &http.Transport{
		DialContext:            up.dial,
		MaxIdleConnsPerHost:    s.cfg.IdleUpstreams,
		MaxIdleConns:           s.cfg.IdleUpstreams,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}
	st := &connState{tr: tr, done: make(chan struct{})}
	st.rp = &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Host
			pr.Out.Host = pr.In.Host
			if _, ok := pr.In.Header["User-Agent"]; !ok {
				pr.Out.Header["User-Agent"] = nil // no Go-http-client default
			}
		},
		FlushInterval: -1,
		ErrorHandler:  s.badGateway,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	s.conns.Store(c, st)
	if !s.ln.push(c) {
		s.conns.Delete(c)
		_ = c.Close()
		return
	}
	s.active.Add(1)
	s.served.Add(1)
	<-st.done
	s.active.Add(-1)
}

// ServeTLS is Serve for a TLS connection whose ALPN chose h2 (tlsedge's hook).
func (s *Server) ServeTLS(tc *tls.Conn, info *proxyproto.Info) { s.Serve(tc, *info) }

// Close stops serving: open connections are closed.
func (s *Server) Close() error {
	s.ln.close()
	return s.hs.Close()
}

// serveStream is the handler of every stream: checks, then one HTTP/1.1 request to the engine.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	st, _ := r.Context().Value(connKey{}).(*connState)
	if st == nil {
		panic("BUG: an HTTP/2 stream without its connection state")
	}
	s.streams.Add(1)
	s.open.Add(1)
	defer s.open.Add(-1)
	if k := validate(r); k != nil {
		writeError(w, k.status, k.cause, k.msg)
		return
	}
	if r.ContentLength == 0 && !emptyBodyEnded(r) {
		writeError(w, refuseBody.status, refuseBody.cause, refuseBody.msg)
		return
	}
	st.rp.ServeHTTP(w, r)
}

// connListener is a net.Listener fed by Serve.
type connListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) close() { l.once.Do(func() { close(l.closed) }) }

func (l *connListener) Close() error   { l.close(); return nil }
func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero} }

// upstreams dials socketpairs into the engine for one HTTP/2 connection.
type upstreams struct {
	s   *Server
	hdr []byte // the PROXY v2 header describing the client, written first on each
}

func (u *upstreams) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	engine, ours, err := sockpair.New()
	if err != nil {
		return nil, err
	}
	if _, err := ours.Write(u.hdr); err != nil {
		_ = engine.Close()
		_ = ours.Close()
		return nil, fmt.Errorf("cannot write PROXY header: %w", err)
	}
	if err := u.s.cfg.Enroll(engine); err != nil {
		_ = ours.Close()
		return nil, fmt.Errorf("cannot enroll HTTP/2 stream connection: %w", err)
	}
	return ours, nil
}

// refusal is an answer given on the stream itself, in Otoroshi's error shape.
type refusal struct {
	status     int
	cause, msg string
}

var (
	refuseConnect = &refusal{405, "errors.connect.not.allowed", "CONNECT is not allowed on this gateway"}
	refuseHost    = &refusal{400, "errors.bad.request", "Bad request: the Host field differs from :authority"}
	refuseMethod  = &refusal{400, "errors.bad.request", "Bad request: malformed HTTP request"}
	refuseLength  = &refusal{400, "errors.bad.request", "Bad request: more than one content-length"}
	refuseBody    = &refusal{400, "errors.bad.request", "Bad request: the body does not match its content-length"}
)

// emptyBodyEnded waits, for a request that declared content-length 0, for
// the end of its stream, and reports whether it came with no DATA: a head
// whose body is still open is not forwarded before that (x/net runs the
// handler at HEADERS), or DATA past the declared length could only reset a
// stream whose request the engine already answered. A stream ended with its
// HEADERS reads EOF at once; one whose DATA exceeds the length reads x/net's
// error (the stream is reset), as does one the client resets.
func emptyBodyEnded(r *http.Request) bool {
	var b [1]byte
	n, err := r.Body.Read(b[:])
	return n == 0 && err == io.EOF
}

// validate applies what x/net/http2 leaves to the handler (see the package comment).
func validate(r *http.Request) *refusal {
	if r.Method == http.MethodConnect {
		return refuseConnect
	}
	if !httpguts.ValidHeaderFieldName(r.Method) { // a method is a token, as a field name
		return refuseMethod
	}
	if cl := r.Header["Content-Length"]; len(cl) > 1 {
		return refuseLength
	}
	if hs, ok := r.Header["Host"]; ok {
		if len(hs) != 1 || !strings.EqualFold(hs[0], r.Host) {
			return refuseHost
		}
	}
	return nil
}

// badGateway answers a stream whose request could not be handed to the engine (or whose
// socketpair broke), in Otoroshi's shape.
func (s *Server) badGateway(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client reset the stream
	}
	s.cfg.Logger.Debug("HTTP/2 stream not served", "err", err, "host", r.Host)
	writeError(w, http.StatusBadGateway, "errors.bad.gateway", "Bad gateway: the request could not be handed to the engine")
}

// writeError answers in the engine's error shape (core/errpage.go): JSON body and the
// Otoroshi-Error headers.
func writeError(w http.ResponseWriter, status int, cause, msg string) {
	body := `{"error":"` + cause + `","error_description":"` + msg + `"}`
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Otoroshi-Error", "true")
	h.Set("Otoroshi-Error-Msg", msg)
	h.Set("Otoroshi-Error-Cause", cause)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
