package admin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/internal/testkit"
)

// startBackend serves body on a loopback port until the test ends and returns its port.
func startBackend(t testing.TB, body string) int {
	t.Helper()
	return int(netip.MustParseAddrPort(testkit.TextBackend(t, body)).Port())
}

// startEngine runs a real core.Server on a loopback port until the test ends.
func startEngine(t testing.TB) *core.Server {
	t.Helper()
	srv, err := core.NewServer(core.Config{Listen: "127.0.0.1:0", Loops: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "engine", srv.Run, srv.Ready())
	return srv
}

// proxyGet does one proxied GET with Host load.test and returns the body (or an error).
func proxyGet(c *http.Client, addr string) (string, error) {
	r, _ := http.NewRequest("GET", "http://"+addr+"/x", nil)
	r.Host = "load.test"
	res, err := c.Do(r)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	return string(b), nil
}

// TestChangesUnderLoad applies admin writes to a real engine while clients keep proxying through
// it: no proxied request may fail, and the first request after each write returns must see it
// (the write answers only after the snapshot is published).
func TestChangesUnderLoad(t *testing.T) {
	engine := startEngine(t)
	portA, portB := startBackend(t, "A"), startBackend(t, "B")
	e := newEnv(t, func(o *Options) { o.Publisher = engine })
	proxy := engine.Addr().String()
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_load", "load.test", portA)})

	probe := &http.Client{Timeout: 5 * time.Second}
	if got, err := proxyGet(probe, proxy); err != nil || got != "A" {
		t.Fatalf("first proxied request: %q, %v", got, err)
	}

	var total, failed atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for i := 0; i < 50000 && ctx.Err() == nil; i++ {
				got, err := proxyGet(c, proxy)
				total.Add(1)
				if err != nil || (got != "A" && got != "B") {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%q %v", got, err))
				}
			}
		}()
	}

	const changes = 40
	for i := 0; i < changes; i++ {
		want, port := "B", portB
		if i%2 == 1 {
			want, port = "A", portA
		}
		if i%4 == 3 {
			patch := fmt.Sprintf(`{"backend":{"targets":[{"id":"t1","hostname":"127.0.0.1","port":%d}]},"description":"change %d"}`, port, i)
			e.must(http.StatusOK, req{method: "PATCH", path: "/api/routes/route_load", body: patch})
		} else {
			e.must(http.StatusOK, req{method: "PUT", path: "/api/routes/route_load", body: routeBody("route_load", "load.test", port)})
		}
		if got, err := proxyGet(probe, proxy); err != nil || got != want {
			t.Fatalf("change %d: the next proxied request got %q (%v), want %q", i, got, err, want)
		}
		// Unrelated writes must not disturb traffic either.
		e.must(http.StatusCreated, req{method: "POST", path: "/api/groups", body: map[string]any{"id": fmt.Sprintf("g%d", i), "name": "g"}})
	}
	cancel()
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d proxied requests failed during %d changes; first: %v", failed.Load(), total.Load(), changes, firstErr.Load())
	}
	if total.Load() < changes {
		t.Fatalf("only %d proxied requests ran", total.Load())
	}
	t.Logf("%d proxied requests, %d changes, none failed", total.Load(), changes)

	// Deleting the route is visible at once too.
	e.must(http.StatusOK, req{method: "DELETE", path: "/api/routes/route_load"})
	if _, err := proxyGet(probe, proxy); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("after delete: %v", err)
	}
}
