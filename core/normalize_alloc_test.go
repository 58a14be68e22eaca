//go:build !race

package core_test

import (
	"testing"

	"github.com/torii-gateway/torii/core"
)

// A proxied GET whose path needs every normalisation step (decoding, dot
// segments, merged slashes) still allocates nothing in steady state.
func TestProxyDirtyPathZeroAllocs(t *testing.T) {
	be := startFixedBackend(t)
	srv := startProxy(t, core.Config{Loops: 1}, quickRoute(t, be))
	bc := newBenchClientFor(t, srv.Addr().String(), dirtyPathRequest)
	for range 2000 {
		bc.do(t)
	}
	if n := testing.AllocsPerRun(3000, func() { bc.do(t) }); n != 0 {
		t.Errorf("%v allocations per proxied request, want 0", n)
	}
}
