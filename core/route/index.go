package route

import (
	"math/bits"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// hostIndex maps the xxhash of a lower-case host to its node. It is paged, like apikey's
// index: the low bits of the hash pick a page of the directory, the high bits the first
// slot to probe in the page (linear probing, load at most 1/2), so that a change (With)
// copies the directory and the pages it falls in and shares the others. The host bytes
// are always compared, so a crafted Host whose hash collides with a configured one cannot
// reach its routes.
type hostIndex struct {
	// pages has a length that is a power of two; each page is an open-addressing table
	// whose length is a power of two at least twice its hosts. The directory holds the
	// slices themselves (not pointers to page structs): one dependent load less per lookup.
	pages [][]hostSlot
	n     int
}

type hostSlot struct {
	hash uint64
	node *hostNode // chain of the hosts with this hash; nil for an empty slot
}

// pageHosts is the number of hosts a page holds on average: a change at 100k hosts copies
// a 3 KiB directory and pages of about 8 KiB.
const pageHosts = 256

// hashedNode is a node and the xxhash of its host.
type hashedNode struct {
	hash uint64
	node *hostNode
}

// buildHostIndex indexes nodes, which have distinct hosts.
func buildHostIndex(nodes []*hostNode) hostIndex {
	hs := make([]hashedNode, len(nodes))
	for i, n := range nodes {
		hs[i] = hashedNode{xxhash.Sum64String(n.name()), n}
	}
	return buildHashed(hs)
}

func buildHashed(hs []hashedNode) hostIndex { return buildPaged(hs, pageHosts) }

// buildPaged indexes hs in pages of perPage hosts on average.
func buildPaged(hs []hashedNode, perPage int) hostIndex {
	if len(hs) == 0 {
		return hostIndex{}
	}
	np := 1
	for np*perPage < len(hs) {
		np <<= 1
	}
	per := make([][]hashedNode, np)
	for _, h := range hs {
		pi := h.hash & uint64(np-1)
		per[pi] = append(per[pi], h)
	}
	x := hostIndex{pages: make([][]hostSlot, np), n: len(hs)}
	for pi, ns := range per {
		x.pages[pi] = buildHostPage(ns)
	}
	return x
}

// buildHostPage returns a page holding hs. A node that must be chained behind another with
// the same hash, or that carries a chain from the page it came from, is copied first:
// nodes are shared between tables and never written once published.
func buildHostPage(hs []hashedNode) []hostSlot {
	size := uint64(8)
	if len(hs) > 0 {
		size = max(size, uint64(1)<<bits.Len(uint(2*len(hs))))
	}
	p := make([]hostSlot, size)
	mask := size - 1
	for _, hn := range hs {
		n, h := hn.node, hn.hash
		if n.nextNode() != nil {
			n = n.detached()
		}
		for i := (h >> 32) & mask; ; i = (i + 1) & mask {
			s := &p[i]
			if s.node == nil {
				s.hash, s.node = h, n
				break
			}
			if s.hash == h {
				n = n.detached()
				n.chain(s.node)
				s.node = n
				break
			}
		}
	}
	return p
}

// detached returns a copy of n with no next link (its ext copied, so n is not changed).
func (n *hostNode) detached() *hostNode {
	cp := *n
	if n.ext != nil {
		cp.ext = &hostExt{host: n.ext.host}
	}
	if len(n.paths.prefixes) == 1 && &n.paths.prefixes[0] == &n.inline[0] {
		cp.paths.prefixes = cp.inline[:]
	}
	return &cp
}

// hostPageNodes appends every node of page p, chains included, with their hashes.
func hostPageNodes(p []hostSlot, out []hashedNode) []hashedNode {
	for i := range p {
		for n := p[i].node; n != nil; n = n.nextNode() {
			out = append(out, hashedNode{p[i].hash, n})
		}
	}
	return out
}

// with returns an index with the nodes of put added or replacing the node of the same
// host, and the hosts of del removed (put and del name distinct hosts). x is unchanged:
// the result copies the directory and rebuilds only the pages a change falls in, sharing
// the others (their nodes keep their hashes: no host is hashed again). The directory is
// re-paged when pages would hold more than 4 × pageHosts hosts on average, or fewer than
// pageHosts / 4 with more than one page.
func (x *hostIndex) with(put []*hostNode, del []string) hostIndex {
	if len(put) == 0 && len(del) == 0 {
		return *x
	}
	if len(x.pages) == 0 {
		return buildHostIndex(put)
	}
	mask := uint64(len(x.pages) - 1)
	type change struct {
		put  []hashedNode
		gone map[uint64][]string // hosts leaving or replaced, by hash
	}
	changes := map[uint64]*change{}
	at := func(host string) (*change, uint64) {
		h := xxhash.Sum64String(host)
		c := changes[h&mask]
		if c == nil {
			c = &change{gone: map[uint64][]string{}}
			changes[h&mask] = c
		}
		c.gone[h] = append(c.gone[h], host)
		return c, h
	}
	for _, host := range del {
		at(host)
	}
	for _, n := range put {
		c, h := at(n.name())
		c.put = append(c.put, hashedNode{h, n})
	}
	nx := hostIndex{pages: slices.Clone(x.pages), n: x.n}
	for pi, c := range changes {
		old := x.pages[pi]
		ns := make([]hashedNode, 0, len(old)/2+len(c.put))
		for i := range old {
			for n := old[i].node; n != nil; n = n.nextNode() {
				if hosts := c.gone[old[i].hash]; hosts != nil && slices.ContainsFunc(hosts, func(h string) bool { return n.isString(h) }) {
					nx.n--
					continue
				}
				ns = append(ns, hashedNode{old[i].hash, n})
			}
		}
		nx.n += len(c.put)
		nx.pages[pi] = buildHostPage(append(ns, c.put...))
	}
	if np := len(nx.pages); nx.n > 4*pageHosts*np || (np > 1 && nx.n < pageHosts/4*np) {
		var all []hashedNode
		for _, p := range nx.pages {
			all = hostPageNodes(p, all)
		}
		return buildHashed(all)
	}
	if nx.n == 0 {
		return hostIndex{}
	}
	return nx
}

// get returns the node of host h, or nil. 0 allocs.
func (x *hostIndex) get(h []byte) *hostNode {
	if x.n == 0 {
		return nil
	}
	hv := xxhash.Sum64(h)
	p := x.pages[hv&uint64(len(x.pages)-1)]
	mask := uint64(len(p) - 1)
	for i := (hv >> 32) & mask; ; i = (i + 1) & mask {
		s := &p[i]
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

// The kinds of host a domain entry has (the first byte of its hostKey).
const (
	kindExact = 'e' // "api.x.com": by host in Table.exact
	kindWild  = 'w' // "*.x.com": by suffix ".x.com" in Table.wild
	kindGlob  = 'g' // a '*' elsewhere ("api-*.x.com"): Table.globs
	kindAny   = '*' // the domain "*": Table.any
)

// hostKey returns the kind of e's host and the name its node is indexed by.
func hostKey(e *Compiled) (kind byte, name string) {
	host := e.Domain[:len(e.Domain)-len(e.Prefix)]
	switch {
	case host == "*":
		return kindAny, "*"
	case isSuffixWildcard(host):
		return kindWild, host[1:]
	case strings.Contains(host, "*"):
		return kindGlob, host
	default:
		return kindExact, host
	}
}

// isSuffixWildcard reports whether a domain host is "*.suffix" with no other '*': such
// hosts are indexed by suffix; other hosts with a '*' are globs, scanned in order.
func isSuffixWildcard(host string) bool {
	return strings.HasPrefix(host, "*.") && !strings.Contains(host[2:], "*")
}

// entryOrder orders the entries of a host: by route id, then domain order. The
// candidates of a path are tried in this order among equal matcher counts.
func entryOrder(a, b *Compiled) int { return strings.Compare(a.ID, b.ID) }

// buildNode returns the node of host name holding entries (of that host, sorted by
// entryOrder), or an error naming the first two routes that claim the same domain with
// the same exact flag and matchers.
func buildNode(name string, entries []*Compiled) (*hostNode, error) {
	n := newHostNode(name)
	var claims map[string]string
	if len(entries) > 1 {
		claims = make(map[string]string, len(entries))
	}
	for _, e := range entries {
		if claims != nil {
			key := e.Prefix + "\x00" + boolKey(e.Exact) + e.match.key()
			if prev, dup := claims[key]; dup {
				if prev != e.ID {
					return nil, conflictError(prev, e)
				}
				continue
			}
			claims[key] = e.ID
		}
		n.addEntry(e)
	}
	n.finish()
	return n, nil
}

func boolKey(b bool) string {
	if b {
		return "t\x00"
	}
	return "f\x00"
}

// entries appends the domain entries of n (every candidate of every path).
func (n *hostNode) entries(out []*Compiled) []*Compiled {
	add := func(g *prefixGroup) {
		out = append(out, g.cands...)
		if g.plain != nil {
			out = append(out, g.plain)
		}
	}
	for i := range n.paths.prefixes {
		add(&n.paths.prefixes[i])
	}
	if m := n.paths.more; m != nil {
		for _, g := range m.exact {
			add(g)
		}
	}
	return out
}

// addEntry adds one domain entry to the paths of n.
func (n *hostNode) addEntry(e *Compiled) {
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

// split sorts the candidates of a group, routes with more matchers first (then entry
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

// finish sorts the path set of n (prefixes longest first) and builds its per-length maps
// when it has many prefixes.
func (n *hostNode) finish() {
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

// sortGlobs orders glob hosts longest pattern first, then by name so that the order does
// not depend on map order.
func sortGlobs(globs []globHost) {
	slices.SortFunc(globs, func(a, b globHost) int {
		if d := len(b.pattern) - len(a.pattern); d != 0 {
			return d
		}
		return strings.Compare(a.pattern, b.pattern)
	})
}

func newGlobHost(pattern string, n *hostNode) globHost {
	return globHost{pattern, pattern[strings.LastIndexByte(pattern, '*')+1:], n}
}
