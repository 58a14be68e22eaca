package route

import (
	"fmt"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/torii-gateway/torii/internal/testkit"
)

// BenchmarkHostIndexGet compares, in one process (so that the shared machine's load hits
// all alike), the lookup of 1,024 hosts spread over 100k in one page (the flat table of before
// issue 15 but for a one-entry directory, always in cache) and paged at two page sizes.
func BenchmarkHostIndexGet(b *testing.B) {
	const n = 100_000
	hs := make([]hashedNode, n)
	for i := range hs {
		name := fmt.Sprintf("svc%d.example.com", i)
		hs[i] = hashedNode{xxhash.Sum64String(name), newHostNode(name)}
	}
	var keys [][]byte
	for i := 0; i < n; i += n / 1024 {
		keys = append(keys, []byte(hs[i].node.name()))
	}
	for _, per := range []int{n + 1, 256, 2048} {
		x := buildPaged(hs, per)
		name := fmt.Sprintf("paged%d", per)
		if per > n {
			name = "onepage"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			testkit.ReportCPU(b, func() {
				for b.Loop() {
					if x.get(keys[i]) == nil {
						b.Fatal("host not found")
					}
					i++
					if i == len(keys) {
						i = 0
					}
				}
			})
		})
	}
}
