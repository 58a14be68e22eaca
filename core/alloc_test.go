//go:build !race

package core_test

import (
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core"
)

// A proxied small GET with keep-alive allocates nothing in steady state. The
// count is process-wide: the backend and client of this test do not allocate
// per request, so what is counted is the proxy's.
func TestProxyGetZeroAllocs(t *testing.T) {
	be := startFixedBackend(t)
	srv := startProxy(t, core.Config{Loops: 1}, quickRoute(t, be))
	bc := newBenchClient(t, srv.Addr().String())
	for range 2000 {
		bc.do(t)
	}
	if n := testing.AllocsPerRun(5000, func() { bc.do(t) }); n != 0 {
		t.Errorf("%v allocations per proxied request, want 0", n)
	}
}

// With ten plugins configured on the route and none firing (the request
// passes every access check, no field to remove or add), a proxied GET
// still allocates nothing.
func TestProxyPluginsNotFiringZeroAllocs(t *testing.T) {
	be := startFixedBackend(t)
	srv := startProxy(t, core.Config{Loops: 1})
	publishRoutes(t, srv, nil, 2, notFiringRoute(t, be))
	bc := newBenchClient(t, srv.Addr().String())
	for range 2000 {
		bc.do(t)
	}
	if n := testing.AllocsPerRun(5000, func() { bc.do(t) }); n != 0 {
		t.Errorf("%v allocations per proxied request, want 0", n)
	}
}

// A route with CanaryMode (every client to the canary, a new canary id and
// cookie on each request) still allocates nothing per proxied GET.
func TestProxyCanaryZeroAllocs(t *testing.T) {
	be := startFixedBackend(t)
	host, port, _ := strings.Cut(be, ":")
	srv := startProxy(t, core.Config{Loops: 1})
	publishRoutes(t, srv, nil, 2, withPlugins(quickRoute(t, be), "CanaryMode",
		`{"traffic":1,"targets":[{"id":"c","hostname":"`+host+`","port":`+port+`}]}`))
	bc := newBenchClient(t, srv.Addr().String())
	for range 2000 {
		bc.do(t)
	}
	if n := testing.AllocsPerRun(5000, func() { bc.do(t) }); n != 0 {
		t.Errorf("%v allocations per proxied request, want 0", n)
	}
}
