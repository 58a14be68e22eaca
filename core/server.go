package core

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Server is the proxy engine: one gnet engine whose event loops serve both
// the client connections and the upstream connections. See the package doc.
type Server struct {
	cfg   Config
	log   *slog.Logger
	snap  atomic.Pointer[Snapshot]
	start time.Time

	mu      sync.Mutex // guards eng, running, closed, loopList writes
	eng     gnet.Engine
	running bool
	closed  bool
	booted  chan struct{} // closed once the listener is bound
	loopsUp chan struct{} // closed once the engine's loops take connections (first tick)
	upOnce  sync.Once
	done    chan struct{} // closed once gnet.Run has returned
	addr    net.Addr

	loops    sync.Map                // gnet.EventLoop → *loop
	loopList atomic.Pointer[[]*loop] // copy-on-write, read by the ticker

	draining atomic.Bool
	// conns counts open client connections (sockets), pumped ones included:
	// an HTTP/2 connection counts once, its streams not at all.
	conns  atomic.Int64
	pumped atomic.Int64 // exchanges handed to a pump goroutine, ever

	// HTTP/2 on the loops (h2conn.go): open connections, connections ever,
	// streams ever, streams open now, errors by code (ours and the
	// client's resets).
	h2Conns   atomic.Int64
	h2Served  atomic.Int64
	h2Streams atomic.Uint64
	h2Open    atomic.Int64  // streams counted against MaxConcurrentStreams (h2conn.nOpen), summed
	h2Writes  atomic.Uint64 // writes of frames to HTTP/2 connections
	h2Errors  [16]atomic.Uint64
	h2Held    atomic.Int64 // backend connections held off the loop for a draining stream, ever
	// h2cfg is the HTTP/2 configuration in force: Config.HTTP2, or its
	// merge with the published Global.HTTP2.
	h2cfg atomic.Pointer[HTTP2Config]
	pumps sync.WaitGroup

	pumpMu sync.Mutex
	active map[*pumpJob]struct{} // pumps copying right now, closed on a forced stop

	obs serverObs // events, metrics, Otoroshi headers; fixed at NewServer
	acc acceptor  // the client listeners and their accept goroutines (accept.go)

	limits serverLimits // gateway-wide throttling and concurrency (limits.go)
}

// NewServer validates cfg and returns a Server that is not yet listening.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("cannot configure proxy engine: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, start: time.Now(), booted: make(chan struct{}), loopsUp: make(chan struct{}), done: make(chan struct{})}
	s.h2cfg.Store(&s.cfg.HTTP2)
	empty := []*loop{}
	s.loopList.Store(&empty)
	s.initObserve()
	// GOMAXPROCS is raised here (Run does it again, a no-op then) because changing it stops the
	// world and waits for a garbage collection in progress: in Run, after the admin loaded a
	// million API keys, that wait was the collection of a 3 GiB heap, 10-25 s on a shared machine
	// before the proxy listened.
	spareProc(cfg.Loops)
	// Cluster mode: the gateway-wide throttles spend the same Redis leases as API keys.
	s.limits.gateway.UseGlobal(cfg.Quotas)
	s.limits.perIP.UseGlobal(cfg.Quotas)
	return s, nil
}

// Publish makes snap the configuration for every request that starts after
// it returns. It is safe to call from any goroutine; snap must not change
// afterwards. A snapshot not made by BuildSnapshot gets its policies
// compiled here, into a copy (see Snapshot). With Config.Metrics, Publish
// then attaches the metrics of snap's routes to it (metric.Set.SyncRoutes),
// so the Set exports exactly the routes of the last published snapshot.
// Requests in flight finish on the snapshot they started with; idle pooled
// connections to targets snap no longer has are closed at each loop's next
// tick.
func (s *Server) Publish(snap *Snapshot) {
	snap = prepareSnapshot(snap, s.log)
	s.attachObserve(snap)
	if g := snap.Global; g != nil && g.HTTP2 != nil {
		s.h2cfg.Store(s.cfg.HTTP2.with(g.HTTP2))
	} else if cur := s.h2cfg.Load(); cur != &s.cfg.HTTP2 {
		s.h2cfg.Store(&s.cfg.HTTP2)
	}
	s.snap.Store(snap)
}

// Snapshot returns the current snapshot, nil before the first Publish.
func (s *Server) Snapshot() *Snapshot { return s.snap.Load() }

// Addr returns the bound proxy address once Run has bound it, or nil.
func (s *Server) Addr() net.Addr {
	select {
	case <-s.booted:
		return s.addr
	default:
		return nil
	}
}

// Stats are a few engine counters, read atomically.
type Stats struct {
	// Conns is the number of open client connections, pumped ones
	// included. An HTTP/2 connection is one, whatever its streams
	// (HTTP2Stats.OpenStreams counts those).
	Conns int64
	// Pumped is the number of exchanges handed over to a pump goroutine
	// since the start (see the package doc on backpressure).
	Pumped int64
	// AcceptErrors is the number of client connections refused since the
	// start because accept failed (EMFILE, ENFILE...) or the connection
	// could not be handed to a loop (accept.go).
	AcceptErrors uint64
}

// Stats returns the current counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	return Stats{Conns: s.conns.Load(), Pumped: s.pumped.Load(), AcceptErrors: s.acc.errors.Load()}
}

// Ready is closed once the listener is bound and Addr is valid.
func (s *Server) Ready() <-chan struct{} { return s.booted }

// now is the server clock in milliseconds, monotonic.
func (s *Server) now() int64 { return int64(time.Since(s.start) / time.Millisecond) }

// Run starts the engine and blocks until ctx is done (then it shuts down
// gracefully within Config.ShutdownGrace) or Shutdown is called.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running || s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.running = true
	s.mu.Unlock()

	if err := s.acc.listen(&s.cfg); err != nil {
		s.upOnce.Do(func() { close(s.loopsUp) }) // Enroll then fails at once
		s.markBooted()
		return fmt.Errorf("cannot run proxy engine on %s: %w", s.cfg.Listen, err)
	}
	defer s.acc.stop()
	spareProc(s.cfg.Loops)
	opts := []gnet.Option{
		gnet.WithNumEventLoop(s.cfg.Loops),
		gnet.WithTicker(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{s.log}),
		gnet.WithLoadBalancing(gnet.LeastConnections),
	}
	h := &handler{s: s}
	errc := make(chan error, 1)
	go func() {
		err := gnet.Run(h, s.acc.gnetAddr(), opts...)
		close(s.done)
		errc <- err
	}()

	select {
	case err := <-errc:
		s.markBooted()
		if err != nil {
			return fmt.Errorf("cannot run proxy engine on %s: %w", s.cfg.Listen, err)
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return ErrServerClosed
		}
		// Nobody asked the engine to stop: a failure, never a clean exit.
		return ErrEngineStopped
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
		defer cancel()
		err := s.Shutdown(sctx)
		<-errc
		return err
	}
}

// Shutdown stops the server gracefully: new connections are refused, idle
// keep-alive connections are closed, in-flight exchanges (pumped ones
// included) may finish until ctx is done; then the engine stops and open
// connections are closed. Safe from any goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return ErrNotStarted
	}
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	<-s.booted

	s.draining.Store(true)
	s.acc.stop()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ShutdownGrace)
		defer cancel()
	}
	tick := time.NewTicker(s.cfg.TickInterval)
	defer tick.Stop()
	for s.conns.Load() > 0 {
		select {
		case <-ctx.Done():
			s.log.Warn("shutdown grace period over, closing open connections", "open", s.conns.Load())
			goto stop
		case <-tick.C:
		}
	}
stop:
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	s.killPumps()
	// Engine.Stop polls every 500 ms; the end of gnet.Run says it sooner.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- eng.Stop(sctx) }()
	var err error
	select {
	case <-s.done:
	case err = <-errc:
	}
	s.pumps.Wait()
	if err != nil {
		return fmt.Errorf("cannot stop proxy engine: %w", err)
	}
	s.log.Info("proxy engine stopped")
	return nil
}

func (s *Server) markBooted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.booted:
	default:
		close(s.booted)
	}
}

// loopFor returns the state of event loop el, creating it on first use.
// Called on el's own goroutine; the map is read lock-free afterwards.
func (s *Server) loopFor(el gnet.EventLoop) *loop {
	if v, ok := s.loops.Load(el); ok {
		return v.(*loop)
	}
	lp := newLoop(s, el)
	s.loops.Store(el, lp)
	s.mu.Lock()
	old := *s.loopList.Load()
	list := make([]*loop, len(old), len(old)+1)
	copy(list, old)
	list = append(list, lp)
	lp.initObserve(len(old))
	s.loopList.Store(&list)
	s.mu.Unlock()
	return lp
}

// handler adapts gnet's callbacks to the Server. Every method runs on an
// event loop goroutine, except OnBoot, OnShutdown and OnTick.
type handler struct {
	gnet.BuiltinEventEngine
	s *Server
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	s := h.s
	s.mu.Lock()
	s.eng = eng
	s.mu.Unlock()
	s.acc.hideGnetListener()
	s.addr = s.acc.addr()
	s.log.Info("proxy engine listening", "addr", s.addr.String(), "loops", s.cfg.Loops, "reuseport", s.cfg.ReusePort)
	s.markBooted()
	return gnet.None
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	var e *enrolled
	switch x := c.Context().(type) {
	case *upstreamConn:
		return nil, x.lp.onUpstreamOpen(x, c)
	case *clientConn:
		// A client enrolled back after a pump.
		return nil, x.lp.onClientReopen(x, c)
	case *tlsLink:
		// A TLS client back from holdTLS (tlsloop.go).
		return nil, x.lp.reopenTLS(x, c)
	case *enrolled:
		e = x // a client handed over by Server.Enroll (entry.go)
	case *tlsEnrolled:
		// A TLS client whose record layer the loop drives (tlsloop.go).
		if !h.s.admitVirtual() {
			return nil, gnet.Close
		}
		h.s.loopFor(c.EventLoop()).openTLS(c, x.link)
		return nil, gnet.None
	case *loopWaker:
		x.opened(c) // not a client (h2waker.go)
		return nil, gnet.None
	case *h2Enrolled:
		// HTTP/2 with prior knowledge (h2c.go).
		if !h.s.admitVirtual() {
			return nil, gnet.Close
		}
		h.s.loopFor(c.EventLoop()).openH2(c, x.info)
		return nil, gnet.None
	}
	s := h.s
	lp := s.loopFor(c.EventLoop())
	if s.draining.Load() {
		return nil, gnet.Close
	}
	n := s.conns.Add(1)
	if s.cfg.MaxConns > 0 && n > int64(s.cfg.MaxConns) {
		s.conns.Add(-1)
		return errorPage(errOverloaded, false, true), gnet.Close
	}
	lp.openClient(c, e)
	return nil, gnet.None
}

// admitVirtual counts a new TLS-on-loop or h2c client against
// Config.MaxConns. It reports false, counting nothing, while the engine
// drains or when it is full: the caller closes the connection without an
// answer (no plaintext HTTP/1.1 page fits either protocol).
func (s *Server) admitVirtual() bool {
	if s.draining.Load() {
		return false
	}
	if n := s.conns.Add(1); s.cfg.MaxConns > 0 && n > int64(s.cfg.MaxConns) {
		s.conns.Add(-1)
		return false
	}
	return true
}

func (h *handler) OnClose(c gnet.Conn, _ error) gnet.Action {
	switch x := c.Context().(type) {
	case *clientConn:
		x.lp.onClientClose(x)
	case *upstreamConn:
		x.lp.onUpstreamClose(x)
	case *h2conn:
		x.lp.closeH2(x)
	case *tlsLink:
		x.lp.onTLSClose(x)
	case *tlsEnrolled:
		x.link.finish() // refused in OnOpen
	case *loopWaker:
		x.closed()
	}
	return gnet.None
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *clientConn:
		return x.lp.trafficClient(x)
	case *upstreamConn:
		return x.lp.trafficUpstream(x)
	case *h2conn:
		return x.lp.trafficH2(x)
	case *tlsLink:
		return x.lp.trafficTLS(x)
	case *loopWaker:
		return x.traffic(c)
	}
	return gnet.Close
}

// OnTick runs on gnet's ticker goroutine: it only queues each loop's tick
// onto that loop, where the timing wheel advances. The first tick starts the
// accept goroutines.
func (h *handler) OnTick() (time.Duration, gnet.Action) {
	// The loops exist from the first tick on: accepting starts there.
	h.s.acc.start(h.s)
	h.s.upOnce.Do(func() { close(h.s.loopsUp) }) // Enroll may go on (entry.go)
	for _, lp := range *h.s.loopList.Load() {
		if lp.tickQueued.CompareAndSwap(false, true) {
			if err := lp.el.Execute(context.Background(), lp); err != nil {
				lp.tickQueued.Store(false)
			}
		}
	}
	return h.s.cfg.TickInterval, gnet.None
}

// gnetLogger sends gnet's own logs to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) {
	g.l.Debug("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Infof(format string, args ...any) {
	g.l.Debug("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Warnf(format string, args ...any) {
	g.l.Warn("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Errorf(format string, args ...any) {
	g.l.Error("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Fatalf(format string, args ...any) {
	g.l.Error("gnet: fatal: " + fmt.Sprintf(format, args...))
}

// itoa appends the decimal form of n to dst.
func itoa(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }
