package route

import (
	"math/bits"
	"slices"
	"strings"

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

// add indexes one domain entry.
func (t *Table) add(e *Compiled) {
	host := e.Domain[:len(e.Domain)-len(e.Prefix)]
	var n *hostNode
	switch {
	case host == "*":
		if t.any == nil {
			t.any = newHostNode("*")
		}
		n = t.any
	case isSuffixWildcard(host):
		n = nodeFor(t.wildNodes, host[1:])
		if l := len(host) - 1; l < 256 {
			t.wildLens[l>>6] |= 1 << (l & 63)
		}
	case strings.Contains(host, "*"):
		n = nodeFor(t.globNodes, host)
	default:
		n = nodeFor(t.exactNodes, host)
	}
	ps := &n.paths
	if e.Exact {
		if ps.more == nil {
			ps.more = &pathMore{}
		}
		if ps.more.exact == nil {
			ps.more.exact = make(map[string]*prefixGroup)
		}
		g := ps.more.exact[e.Prefix]
		if g == nil {
			g = &prefixGroup{prefix: e.Prefix}
			ps.more.exact[e.Prefix] = g
		}
		g.cands = append(g.cands, e)
		return
	}
	for i := range ps.prefixes {
		if ps.prefixes[i].prefix == e.Prefix {
			ps.prefixes[i].cands = append(ps.prefixes[i].cands, e)
			return
		}
	}
	ps.prefixes = append(ps.prefixes, prefixGroup{prefix: e.Prefix, cands: []*Compiled{e}})
}

// isSuffixWildcard reports whether a domain host is "*.suffix" with no other '*': such
// hosts are indexed by suffix; other hosts with a '*' are globs, scanned in order.
func isSuffixWildcard(host string) bool {
	return strings.HasPrefix(host, "*.") && !strings.Contains(host[2:], "*")
}

func nodeFor(m map[string]*hostNode, host string) *hostNode {
	n := m[host]
	if n == nil {
		n = newHostNode(host)
		m[host] = n
	}
	return n
}

// split sorts the candidates of a group, routes with more matchers first (then route
// order, which is stable), and sets aside the one without matchers (conflicts guarantee
// there is at most one).
func (g *prefixGroup) split() {
	all := g.cands
	g.cands = nil
	slices.SortStableFunc(all, func(a, b *Compiled) int { return b.match.weight() - a.match.weight() })
	for _, c := range all {
		if c.match.any {
			g.cands = append(g.cands, c)
		} else if g.plain == nil {
			g.plain = c
		}
	}
}

// finish sorts every path set (prefixes longest first), builds the per-length maps of
// hosts with many prefixes and the host indexes.
func (t *Table) finish() {
	each := func(n *hostNode) {
		ps := &n.paths
		if ps.more != nil {
			for _, g := range ps.more.exact {
				g.split()
			}
		}
		for i := range ps.prefixes {
			ps.prefixes[i].split()
		}
		slices.SortStableFunc(ps.prefixes, func(a, b prefixGroup) int { return len(b.prefix) - len(a.prefix) })
		if len(ps.prefixes) == 1 {
			n.inline[0] = ps.prefixes[0]
			ps.prefixes = n.inline[:]
		}
		if len(ps.prefixes) <= linearPrefixes {
			return
		}
		if ps.more == nil {
			ps.more = &pathMore{}
		}
		for i := range ps.prefixes {
			g := &ps.prefixes[i]
			if len(ps.more.byLen) == 0 || ps.more.byLen[len(ps.more.byLen)-1].n != len(g.prefix) {
				ps.more.byLen = append(ps.more.byLen, lenBucket{n: len(g.prefix), m: make(map[string]*prefixGroup)})
			}
			ps.more.byLen[len(ps.more.byLen)-1].m[g.prefix] = g
		}
	}
	for _, n := range t.exactNodes {
		each(n)
	}
	for _, n := range t.wildNodes {
		each(n)
	}
	for pattern, n := range t.globNodes {
		each(n)
		t.globs = append(t.globs, globHost{pattern, pattern[strings.LastIndexByte(pattern, '*')+1:], n})
	}
	// Longest pattern first, then by name so that the order does not depend on map order.
	slices.SortFunc(t.globs, func(a, b globHost) int {
		if d := len(b.pattern) - len(a.pattern); d != 0 {
			return d
		}
		return strings.Compare(a.pattern, b.pattern)
	})
	if t.any != nil {
		each(t.any)
	}
	t.exact = buildHostIndex(t.exactNodes)
	t.wild = buildHostIndex(t.wildNodes)
	t.exactNodes, t.wildNodes, t.globNodes = nil, nil, nil
}
