//go:build !race

package load

import (
	"context"
	"runtime"
	"testing"

	"github.com/torii-gateway/torii/bench/internal/backend"
)

// TestSteadyStateAllocations runs real traffic against the in-process
// backend and counts heap objects allocated by the whole process (backend
// included): setup costs a bounded number, so per request it must be ~0.
func TestSteadyStateAllocations(t *testing.T) {
	srv := startBackend(t, backend.Config{Size: 32})
	req, _ := request(t, "GET", "http://"+srv.Addr()+"/", nil)
	cfg := Config{Addr: srv.Addr(), Request: req, Connections: 2, Requests: 2000}
	if _, err := Run(context.Background(), cfg); err != nil { // warm up pools
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cfg.Requests = 20_000
	res, err := Run(context.Background(), cfg)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	perReq := float64(after.Mallocs-before.Mallocs) / float64(res.Responses)
	t.Logf("%d objects for %d requests = %.4f per request", after.Mallocs-before.Mallocs, res.Responses, perReq)
	if res.OK != 20_000 || perReq > 0.05 {
		t.Fatalf("%d responses, %.4f allocations per request; want 20000 and ~0", res.OK, perReq)
	}
}
