package core_test

import (
	"testing"

	"github.com/torii-gateway/torii/core"
)

// dirtyPathRequest is BenchmarkProxyGet's request with a path that needs
// every normalisation step; the backend receives /hello/world.
const dirtyPathRequest = "GET /x/..//%68ello/./world HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: torii-bench\r\n\r\n"

// BenchmarkProxyGetDirtyPath is BenchmarkProxyGet with a path that must be
// normalised (httpparse.NormalizePath's slow path, rewritten in place).
// Compare its ns/op with BenchmarkProxyGet in the same run; the fast path
// every clean path takes is httpparse's BenchmarkNormalizePathFast.
func BenchmarkProxyGetDirtyPath(b *testing.B) {
	be := startFixedBackend(b)
	srv := startProxy(b, core.Config{Loops: 1}, quickRoute(b, be))
	bc := newBenchClientFor(b, srv.Addr().String(), dirtyPathRequest)
	sendRequests(b, bc, 1000)
}
