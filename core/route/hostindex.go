package route

import (
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// hostIndex is an open-addressing hash table (linear probing, load at most 1/2) from the
// xxhash of a lower-case host to its node: one cache line per probe, where a Go map
// touches a control word and a slot. The host bytes are always compared, so a crafted
// Host whose hash collides with a configured one cannot reach its routes.
type hostIndex struct {
	slots []hostSlot
	mask  uint64
	n     int
}

type hostSlot struct {
	hash uint64
	node *hostNode // chain of the hosts with this hash; nil for an empty slot
}

// buildHostIndex indexes nodes (host → node); it sets the next links of colliding hosts.
func buildHostIndex(nodes map[string]*hostNode) hostIndex {
	if len(nodes) == 0 {
		return hostIndex{}
	}
	size := uint64(1) << bits.Len(uint(2*len(nodes)-1))
	x := hostIndex{slots: make([]hostSlot, size), mask: size - 1, n: len(nodes)}
	for _, n := range nodes {
		h := xxhash.Sum64String(n.name())
		for i := h & x.mask; ; i = (i + 1) & x.mask {
			s := &x.slots[i]
			if s.node == nil {
				s.hash, s.node = h, n
				break
			}
			if s.hash == h {
				n.chain(s.node)
				s.node = n
				break
			}
		}
	}
	return x
}

// get returns the node of host h, or nil. 0 allocs.
func (x *hostIndex) get(h []byte) *hostNode {
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
