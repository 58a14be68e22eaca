package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Client connections are accepted by Torii, not by gnet: gnet v2.9.7's
// acceptor shuts the whole engine down on any accept error other than EAGAIN
// (acceptor_unix.go; gnet issue 367), so one EMFILE under a file-descriptor
// shortage would drop every open connection. Instead, one goroutine per
// listening socket (one socket, or one SO_REUSEPORT socket per loop) accepts
// with the standard library and hands each connection to the event loop with
// the fewest connections through Engine.Register (EventLoop.Enroll, which
// duplicates the descriptor into the loop and closes the accepted one).
//
// An accept error never stops the gateway. EMFILE, ENFILE and every other
// error but a closed listener back off like net/http's Server.Serve (5 ms,
// doubling, at most 1 s) and retry: the connection waits in the kernel's
// accept queue meanwhile, and open connections keep being served by their
// loops. Each refusal (an accept error, or a connection gnet could not
// enroll, e.g. when its dup hits the limit) counts in
// torii_accept_errors_total and Stats.AcceptErrors; the log line says it at
// most once per acceptLogEvery, with the number left unsaid.
//
// gnet itself must still run an engine with a listener, since Engine.Register
// and Engine.Stop refuse an engine without one. It gets a Unix socket in a
// private temporary directory whose path is unlinked as soon as the engine
// has booted: nothing can connect to it, so gnet's own acceptor never runs.

// famAcceptErrors counts refused client connections (see above).
const famAcceptErrors = "torii_accept_errors_total"

const (
	// acceptBackoffMin and acceptBackoffMax bound the pause after an accept
	// error (net/http's values): long enough not to spin on EMFILE, short
	// enough to pick up again as soon as descriptors are freed.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// acceptLogEvery rate-limits the accept error log line, so that a
	// descriptor shortage does not also flood the log.
	acceptLogEvery = 10 * time.Second
	// enrollQueue bounds the registrations whose outcome is not yet known;
	// past it the acceptor waits, which keeps the accept queue in the kernel.
	enrollQueue = 1024
)

// acceptor owns the proxy's listening sockets and their goroutines.
type acceptor struct {
	lns     []*net.TCPListener
	wg      sync.WaitGroup
	results chan (<-chan gnet.RegisteredResult)
	mu      sync.Mutex // orders start and stop
	started bool
	closed  atomic.Bool

	errors   atomic.Uint64 // refusals: accept errors and failed enrollments
	logAt    atomic.Int64  // unix nanoseconds of the last accept error log line
	unlogged atomic.Uint64 // refusals since that line
	stall    atomic.Bool   // an enrollment failed: back off before the next accept

	gnetDir string // the private directory of gnet's unreachable listener
}

// listen binds the proxy's listening sockets: one, or Loops SO_REUSEPORT
// sockets on the same address. Called by Run before the engine starts, so
// that a port in use is reported at once.
func (a *acceptor) listen(cfg *Config) error {
	n := 1
	lc := net.ListenConfig{KeepAlive: -1} // idle clients are bounded by IdleTimeout
	if cfg.ReusePort {
		n = cfg.Loops
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			})
			if err == nil {
				err = serr
			}
			return err
		}
	}
	for range n {
		ln, err := lc.Listen(context.Background(), "tcp", cfg.Listen)
		if err != nil {
			a.closeListeners()
			return err
		}
		a.lns = append(a.lns, ln.(*net.TCPListener))
	}
	dir, err := os.MkdirTemp("", "torii-gnet-")
	if err != nil {
		a.closeListeners()
		return fmt.Errorf("cannot create the engine's private directory: %w", err)
	}
	a.gnetDir = dir
	a.results = make(chan (<-chan gnet.RegisteredResult), enrollQueue)
	return nil
}

// gnetAddr is the address of gnet's own listener, which nothing dials.
func (a *acceptor) gnetAddr() string { return "unix://" + filepath.Join(a.gnetDir, "engine.sock") }

// hideGnetListener unlinks gnet's socket once it is bound, so that nothing
// can connect to it any more. Called from OnBoot.
func (a *acceptor) hideGnetListener() {
	_ = os.RemoveAll(a.gnetDir)
}

// addr is the bound address of the first listening socket.
func (a *acceptor) addr() net.Addr { return a.lns[0].Addr() }

// start runs one accept goroutine per listening socket and the goroutine
// that collects the outcome of their registrations, once the engine's loops
// exist. Later calls, and calls after stop, do nothing.
func (a *acceptor) start(s *Server) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started || a.closed.Load() {
		return
	}
	a.started = true
	for _, ln := range a.lns {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.serve(s, ln)
		}()
	}
	go a.collect(s)
}

// stop closes the listening sockets and waits for the accept goroutines.
// Connections already accepted stay with their loops. Safe to call twice.
func (a *acceptor) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Swap(true) {
		return
	}
	a.closeListeners()
	a.wg.Wait()
	if a.results != nil {
		close(a.results)
	}
	_ = os.RemoveAll(a.gnetDir)
}

func (a *acceptor) closeListeners() {
	for _, ln := range a.lns {
		_ = ln.Close()
	}
}

// serve accepts on ln until it is closed. It runs on its own goroutine and
// blocks only there.
func (a *acceptor) serve(s *Server, ln *net.TCPListener) {
	var backoff time.Duration
	for {
		if a.stall.Swap(false) {
			backoff = a.pause(backoff)
		}
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || a.closed.Load() {
				return
			}
			a.refused(s, err)
			backoff = a.pause(backoff)
			continue
		}
		backoff = 0
		if s.cfg.H2C != nil || s.h2cfg.Load().H2C {
			go a.sniffH2C(s, c) // h2c.go
			continue
		}
		res, err := s.register(c, nil) // entry.go
		if err != nil {
			continue // the engine is shutting down; c is closed
		}
		a.results <- res
	}
}

// pause sleeps for the next backoff after prev and returns it.
func (a *acceptor) pause(prev time.Duration) time.Duration {
	d := prev * 2
	if d < acceptBackoffMin {
		d = acceptBackoffMin
	}
	if d > acceptBackoffMax {
		d = acceptBackoffMax
	}
	time.Sleep(d)
	return d
}

// collect reads the outcome of each registration: a connection gnet could
// not take (its dup failed for want of a descriptor, say) was closed by gnet;
// it counts as a refusal and makes the acceptors back off.
func (a *acceptor) collect(s *Server) {
	for res := range a.results {
		r := <-res
		if r.Err != nil {
			a.stall.Store(true)
			a.refused(s, r.Err)
		}
	}
}

// refused counts one refused connection and logs it, at most once per
// acceptLogEvery.
func (a *acceptor) refused(s *Server, err error) {
	a.errors.Add(1)
	now := time.Now().UnixNano()
	last := a.logAt.Load()
	if now-last < int64(acceptLogEvery) || !a.logAt.CompareAndSwap(last, now) {
		a.unlogged.Add(1)
		return
	}
	s.log.Error("cannot accept a client connection; retrying with backoff, open connections are still served",
		"err", err, "refused_since_last_line", a.unlogged.Swap(0), "refused_total", a.errors.Load(),
		"open", s.conns.Load())
}
