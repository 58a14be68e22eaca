// Package inproc holds benchmarks that run Torii's engine, the benchmark
// backend and the load engine in one process, so `go test -benchmem` can
// count the heap allocations of a proxied request: the Torii benchmark minus
// the direct one (same backend, same load engine) is the proxy's share.
// bench/compare runs them for BENCHMARKS.md.
//
// # Caveats
//
// Everything shares the process and its CPUs, so ns/op here is not the
// pinned, out-of-process throughput that bench/compare reports; only the
// allocation counts are meant to be read. The package has no non-test code.
package inproc
