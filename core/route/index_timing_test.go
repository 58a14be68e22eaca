package route

import (
	"fmt"
	"math/bits"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/torii-gateway/torii/internal/testkit"
)

// flatIndex is the host index before issue 15's paging (one open-addressing table), kept
// here as the baseline of BenchmarkHostIndexGet.
type flatIndex struct {
	slots []hostSlot
	mask  uint64
	n     int
}

func buildFlat(hs []hashedNode) flatIndex {
	size := uint64(1) << bits.Len(uint(2*len(hs)-1))
	x := flatIndex{slots: make([]hostSlot, size), mask: size - 1, n: len(hs)}
	for _, hn := range hs {
		for i := hn.hash & x.mask; ; i = (i + 1) & x.mask {
			if x.slots[i].node == nil {
				x.slots[i] = hostSlot(hn)
				break
			}
		}
	}
	return x
}

func (x *flatIndex) get(h []byte) *hostNode {
	if x.n == 0 {
		return nil
	}
	hv := xxhash.Sum64(h)
	for i := hv & x.mask; ; i = (i + 1) & x.mask {
		s := &x.slots[i]
		if s.node == nil {
			return nil
		}
		if s.hash != hv {
			continue
		}
		for n := s.node; n != nil; n = n.nextNode() {
			if n.is(h) {
				return n
			}
		}
		return nil
	}
}

// BenchmarkHostIndexGet compares, in one process (so that the shared machine's load hits
// both alike), the lookup of 1,024 hosts spread over 100k in the flat index of before
// issue 15 and in the paged index at two page sizes.
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
	flat := buildFlat(hs)
	paged := map[int]hostIndex{256: buildPaged(hs, 256), 2048: buildPaged(hs, 2048)}
	run := func(b *testing.B, get func([]byte) *hostNode) {
		b.ReportAllocs()
		i := 0
		testkit.ReportCPU(b, func() {
			for b.Loop() {
				if get(keys[i]) == nil {
					b.Fatal("host not found")
				}
				i++
				if i == len(keys) {
					i = 0
				}
			}
		})
	}
	b.Run("flat", func(b *testing.B) { run(b, flat.get) })
	for _, per := range []int{256, 2048} {
		x := paged[per]
		b.Run(fmt.Sprintf("paged%d", per), func(b *testing.B) { run(b, x.get) })
	}
}
