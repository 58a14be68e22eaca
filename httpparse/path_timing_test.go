package httpparse

import (
	"path"
	"testing"
)

// Paths for the normalisation benchmarks: a typical API path (the fast
// path: nothing to do) and one that needs every step.
const (
	benchPathNormal = "/api/v1/users/42/orders"
	benchPathDirty  = "/api//v1/./users/%34%32/x/../orders"
)

func benchNormalize(b *testing.B, p string) {
	buf := []byte(p)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, p)
		if _, err := NormalizePath(buf[:0], buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalizePathFast(b *testing.B)  { benchNormalize(b, benchPathNormal) }
func BenchmarkNormalizePathDirty(b *testing.B) { benchNormalize(b, benchPathDirty) }

// BenchmarkNormalizePathStdlibClean is the baseline: path.Clean (lexical
// dot-segment and slash cleaning, no percent-decoding) on the same dirty path.
func BenchmarkNormalizePathStdlibClean(b *testing.B) {
	b.SetBytes(int64(len(benchPathDirty)))
	b.ReportAllocs()
	for b.Loop() {
		if path.Clean(benchPathDirty) == "" {
			b.Fatal("empty")
		}
	}
}
