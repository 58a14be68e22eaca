// Package backend is the fixed-response HTTP upstream used by the benchmarks:
// a fasthttp server that answers every request with a pre-built body of a
// configured size (optionally chosen by path), after an optional delay, and
// counts what it served per second so tests can check a generator's rate
// from the receiving side.
//
// # Caveats
//
// A Server is safe for concurrent use; its counters are atomics read while
// it serves. The per-second series covers the first MaxSeconds of a run and
// counts later requests only in the total. Bodies are shared, read-only
// slices: handlers never copy them.
package backend

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// MaxSeconds is how many whole seconds the per-second series covers.
const MaxSeconds = 3600

// ErrConfig means a Config field is out of range or unparsable.
var ErrConfig = errors.New("backend: invalid configuration")

// Config describes the responses.
type Config struct {
	Size   int            // body bytes for paths not in Sizes
	Sizes  map[string]int // body bytes by exact request path
	Delay  time.Duration  // wait before answering (sleeps the connection's goroutine)
	Status int            // response status; 0 means 200
}

// ParseSizes parses "/path=bytes,/other=bytes" (empty gives nil).
func ParseSizes(s string) (map[string]int, error) {
	if s == "" {
		return nil, nil
	}
	m := map[string]int{}
	for item := range strings.SplitSeq(s, ",") {
		path, n, ok := strings.Cut(strings.TrimSpace(item), "=")
		size, err := strconv.Atoi(n)
		if !ok || !strings.HasPrefix(path, "/") || err != nil || size < 0 {
			return nil, fmt.Errorf("cannot parse size %q, want /path=bytes: %w", item, ErrConfig)
		}
		m[path] = size
	}
	return m, nil
}

// Server answers with fixed responses and counts them.
type Server struct {
	srv       *fasthttp.Server
	ln        net.Listener
	cfg       Config
	body      []byte
	bodies    map[string][]byte
	started   time.Time
	total     atomic.Uint64
	perSecond [MaxSeconds]atomic.Uint64
}

// Start listens on addr ("127.0.0.1:0" for any free port) and serves in a
// goroutine until Close.
func Start(addr string, cfg Config) (*Server, error) {
	if cfg.Size < 0 || cfg.Delay < 0 || cfg.Status < 0 || cfg.Status > 999 || (cfg.Status != 0 && cfg.Status < 200) {
		return nil, fmt.Errorf("cannot serve size=%d delay=%v status=%d: %w", cfg.Size, cfg.Delay, cfg.Status, ErrConfig)
	}
	if cfg.Status == 0 {
		cfg.Status = fasthttp.StatusOK
	}
	s := &Server{cfg: cfg, body: makeBody(cfg.Size), bodies: map[string][]byte{}}
	for p, n := range cfg.Sizes {
		s.bodies[p] = makeBody(n)
	}
	s.srv = &fasthttp.Server{
		Handler:               s.handle,
		Name:                  "torii-bench-backend",
		NoDefaultDate:         true,
		NoDefaultServerHeader: true,
		IdleTimeout:           2 * time.Minute,
		// Benchmarks open tens of thousands of connections on purpose.
		Concurrency: 1 << 20,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.started = time.Now()
	go s.srv.Serve(ln) //nolint:errcheck // Serve returns when Close closes the listener
	return s, nil
}

// makeBody returns n printable bytes ending in a newline.
func makeBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	if n > 0 {
		b[n-1] = '\n'
	}
	return b
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	if d := time.Since(s.started); d < MaxSeconds*time.Second {
		s.perSecond[d/time.Second].Add(1)
	}
	s.total.Add(1)
	if s.cfg.Delay > 0 {
		time.Sleep(s.cfg.Delay)
	}
	body, ok := s.bodies[string(ctx.Path())]
	if !ok {
		body = s.body
	}
	ctx.SetStatusCode(s.cfg.Status)
	ctx.SetContentType("text/plain")
	ctx.Response.SetBodyRaw(body)
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Started returns when the per-second series begins.
func (s *Server) Started() time.Time { return s.started }

// Requests returns how many requests the server has received.
func (s *Server) Requests() uint64 { return s.total.Load() }

// PerSecond returns requests received in each whole second since Started,
// up to now (or MaxSeconds).
func (s *Server) PerSecond() []uint64 {
	n := min(int(time.Since(s.started)/time.Second)+1, MaxSeconds)
	out := make([]uint64, n)
	for i := range out {
		out[i] = s.perSecond[i].Load()
	}
	return out
}

// Close stops accepting and closes open connections.
func (s *Server) Close() error {
	if err := s.srv.Shutdown(); err != nil {
		return fmt.Errorf("cannot shut down backend: %w", err)
	}
	return nil
}
