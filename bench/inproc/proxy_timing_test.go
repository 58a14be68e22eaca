package inproc

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/torii-gateway/torii/bench/internal/backend"
	"github.com/torii-gateway/torii/bench/internal/load"
	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
)

func startBackend(tb testing.TB) *backend.Server {
	tb.Helper()
	srv, err := backend.Start("127.0.0.1:0", backend.Config{Size: 32})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	return srv
}

// startTorii runs Torii's engine in quick mode (one event loop) in front of
// upstream and returns its address.
func startTorii(tb testing.TB, upstream string) string {
	tb.Helper()
	r, err := core.QuickRoute([]string{"http://" + upstream})
	if err != nil {
		tb.Fatal(err)
	}
	table, err := route.Compile([]route.Route{r}, route.CompileOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := core.NewServer(core.Config{
		Listen: "127.0.0.1:0", Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv.Publish(&core.Snapshot{Routes: table, Version: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			tb.Error("Torii did not stop within 10s")
		}
	})
	select {
	case <-srv.Ready():
	case <-done:
		tb.Fatal("Torii stopped before it was ready")
	case <-time.After(10 * time.Second):
		tb.Fatal("Torii not ready within 10s")
	}
	return srv.Addr().String()
}

// drive sends b.N small GETs to addr over 4 keep-alive connections after a
// warm-up, with allocations counted for the measured part only.
func drive(b *testing.B, addr string) {
	req, _, err := load.BuildRequest("GET", "http://"+addr+"/", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := load.Config{Addr: addr, Request: req, Connections: 4, Requests: 2000}
	if _, err := load.Run(context.Background(), cfg); err != nil { // warm pools and buffers
		b.Fatal(err)
	}
	cfg.Requests = int64(b.N)
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	res, err := load.Run(context.Background(), cfg)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if err != nil {
		b.Fatal(err)
	}
	// allocs/op is rounded down to an integer; this is the exact ratio.
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "objs/req")
	if res.OK != uint64(b.N) {
		b.Fatalf("%d of %d requests got 2xx (errors %+v)", res.OK, b.N, res.Errors)
	}
}

// BenchmarkDirect is the baseline: the load engine against the backend.
func BenchmarkDirect(b *testing.B) {
	drive(b, startBackend(b).Addr())
}

// BenchmarkTorii is the same traffic through Torii's engine.
func BenchmarkTorii(b *testing.B) {
	drive(b, startTorii(b, startBackend(b).Addr()))
}
