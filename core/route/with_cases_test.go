package route

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestWithSharedHostsAndConflicts applies random batches to routes that crowd a few hosts
// (exact, wildcard, glob and "*", shared paths, exact paths, methods and header matchers),
// so that most batches rebuild a host that other routes keep, and conflicts appear and go.
// After each batch, With must fail exactly when Compile of the same routes fails, leave the
// table it was called on unchanged when it does, and otherwise match every request as
// Compile's table does (candidates with as many matchers tried by route id in both).
func TestWithSharedHostsAndConflicts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	hosts := []string{"a.com", "b.com", "*.w.com", "x-*.g.com", "*"}
	paths := []string{"", "/p", "/p/q", "/z"}
	gen := func(id string) Route {
		r := Route{ID: id, Enabled: true, Backend: defaultBackend()}
		r.Backend.Targets = []Target{{ID: "t", Hostname: "127.0.0.1", Port: 1000 + rng.IntN(50000), Weight: 1}}
		for range 1 + rng.IntN(2) {
			d := hosts[rng.IntN(len(hosts))] + paths[rng.IntN(len(paths))]
			if !slices.Contains(r.Frontend.Domains, d) {
				r.Frontend.Domains = append(r.Frontend.Domains, d)
			}
		}
		r.Frontend.Exact = rng.IntN(4) == 0
		switch rng.IntN(3) {
		case 1:
			r.Frontend.Methods = []string{"GET"}
		case 2:
			r.Frontend.Methods = []string{"POST"}
		}
		if rng.IntN(3) == 0 {
			r.Frontend.Headers = map[string]string{"x": "1"}
		}
		return r
	}
	opts := CompileOptions{Seed: 1}
	cur := map[string]Route{}
	tab, err := Compile(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	compileAll := func(m map[string]Route) (*Table, error) {
		all := make([]Route, 0, len(m))
		for _, r := range m {
			all = append(all, r)
		}
		slices.SortFunc(all, func(a, b Route) int { return strings.Compare(a.ID, b.ID) })
		return Compile(all, opts)
	}
	type probe struct{ method, host, path, header string }
	var probes []probe
	for _, h := range []string{"a.com", "b.com", "q.w.com", "x-1.g.com", "other.com"} {
		for _, p := range []string{"/", "/p", "/p/q", "/p/qq", "/z", "/zz"} {
			for _, m := range []string{"GET", "POST"} {
				probes = append(probes, probe{m, h, p, ""}, probe{m, h, p, "X: 1"})
			}
		}
	}
	same := func(batch int, got, want *Table) {
		t.Helper()
		for _, pr := range probes {
			var hdr []string
			if pr.header != "" {
				hdr = []string{pr.header}
			}
			req, buf := request(pr.method, pr.host, pr.path, hdr...)
			g, w := got.Match(req, buf), want.Match(req, buf)
			if (g == nil) != (w == nil) || g != nil && (g.ID != w.ID || g.Domain != w.Domain) {
				t.Fatalf("batch %d: %s %s%s %q matched %v, want %v", batch, pr.method, pr.host, pr.path, pr.header, g, w)
			}
		}
	}
	var conflicts, resolved int
	wasConflict := false
	for batch := range 400 {
		next := make(map[string]Route, len(cur))
		for k, v := range cur {
			next[k] = v
		}
		var put []Route
		var del []string
		used := map[string]bool{}
		for range 1 + rng.IntN(3) {
			id := fmt.Sprintf("r%02d", rng.IntN(30))
			if used[id] {
				continue
			}
			used[id] = true
			switch op := rng.IntN(5); {
			case op == 0 && next[id].ID != "":
				del = append(del, id)
				delete(next, id)
			case op == 1:
				r := gen(id)
				r.Enabled = false
				put = append(put, r)
				next[id] = r
			default:
				r := gen(id)
				put = append(put, r)
				next[id] = r
			}
		}
		want, werr := compileAll(next)
		before, _ := compileAll(cur)
		got, gerr := tab.With(put, del, opts)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("batch %d: With error %v, Compile error %v", batch, gerr, werr)
		}
		if gerr != nil {
			if !strings.Contains(gerr.Error(), "both claim") {
				t.Fatalf("batch %d: With failed for another reason than a conflict: %v", batch, gerr)
			}
			conflicts++
			wasConflict = true
			same(batch, tab, before) // the table With was called on is unchanged
			continue
		}
		if wasConflict {
			resolved++
			wasConflict = false
		}
		checkSlots(t, batch, tab, got)
		same(batch, got, want)
		same(batch, tab, before)
		tab, cur = got, next
	}
	if conflicts < 20 || resolved < 10 {
		t.Fatalf("only %d batches with a conflict and %d resolved after one: the test does not exercise conflicts", conflicts, resolved)
	}
}

// TestWithReusesFreedIndex checks that a route created after a delete takes the deleted
// route's Index, that the routes that stay keep theirs, and that a replaced route keeps its
// Index and is in the Delta twice (old form removed, new form added).
func TestWithReusesFreedIndex(t *testing.T) {
	mk := func(id, host string, port int) Route {
		return Route{ID: id, Enabled: true, Frontend: Frontend{Domains: []string{host}},
			Backend: Backend{Targets: []Target{{ID: "t", Hostname: "127.0.0.1", Port: port, Weight: 1}}}}
	}
	a, err := Compile([]Route{mk("a", "a.test", 1), mk("b", "b.test", 2), mk("c", "c.test", 3)}, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bIndex := a.Route("b").Index
	b, err := a.With(nil, []string{"b"}, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.RouteAt(bIndex) != nil || b.Route("a").Index != a.Route("a").Index || b.Slots() != 3 || b.Len() != 2 {
		t.Fatalf("after delete: slot %d holds %v, slots %d, len %d", bIndex, b.RouteAt(bIndex), b.Slots(), b.Len())
	}
	c, err := b.With([]Route{mk("d", "d.test", 4), mk("c", "c2.test", 5)}, nil, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Route("d"); d == nil || d.Index != bIndex || c.RouteAt(bIndex) != d || c.Slots() != 3 {
		t.Fatalf("new route d has %v, want the freed slot %d (slots %d)", d, bIndex, c.Slots())
	}
	if c.Route("c").Index != a.Route("c").Index {
		t.Fatalf("replaced route c moved from %d to %d", a.Route("c").Index, c.Route("c").Index)
	}
	delta := c.DeltaFrom(b)
	if delta == nil || len(delta.Removed) != 1 || delta.Removed[0] != b.Route("c") || len(delta.Added) != 2 {
		t.Fatalf("delta %+v, want c removed, c and d added", delta)
	}
	var none *Table
	if n, err := none.With([]Route{mk("a", "a.test", 1)}, nil, CompileOptions{}); err != nil || n.Route("a") == nil || n.Route("a").Index != 0 {
		t.Fatalf("With on a nil table: %v, %v", n, err)
	}
	if c.DeltaFrom(a) != nil || a.DeltaFrom(nil) != nil {
		t.Fatalf("DeltaFrom answered for a table c was not made from")
	}
	req, buf := request("GET", "c.test", "/")
	if c.Match(req, buf) != nil || b.Match(req, buf) == nil {
		t.Fatalf("c.test still routed in the new table, or no longer in the old one")
	}
	// Growth: a slot past the first chunk.
	var put []Route
	for i := range 700 {
		put = append(put, mk(fmt.Sprintf("g%03d", i), fmt.Sprintf("g%d.test", i), 6000+i))
	}
	g, err := c.With(put, nil, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Slots() != 703 || g.Len() != 703 || g.RouteAt(702) == nil || g.RouteAt(703) != nil || c.RouteAt(300) != nil {
		t.Fatalf("after growth: slots %d len %d", g.Slots(), g.Len())
	}
}

// TestWithGrowsAcrossRepage grows a table from a few hosts to thousands and back by With,
// which re-pages the host and address indexes both ways, and compares it with Compile.
func TestWithGrowsAcrossRepage(t *testing.T) {
	all, reqs := genRoutes(6000)
	opts := CompileOptions{Seed: 1}
	tab, err := Compile(all[:10], opts)
	if err != nil {
		t.Fatal(err)
	}
	pages := map[int]bool{len(tab.exact.pages): true}
	n := 10
	for _, step := range []int{100, 1000, 4890, -5000, -900} {
		var put []Route
		var del []string
		if step > 0 {
			put = all[n : n+step]
		} else {
			for _, r := range all[n+step : n] {
				del = append(del, r.ID)
			}
		}
		if tab, err = tab.With(put, del, opts); err != nil {
			t.Fatal(err)
		}
		n += step
		pages[len(tab.exact.pages)] = true
		want, err := Compile(all[:n], opts)
		if err != nil {
			t.Fatal(err)
		}
		if tab.exact.n != want.exact.n || tab.wild.n != want.wild.n || tab.addrIdx.n != want.addrs.Len() || tab.Len() != n {
			t.Fatalf("%d routes: %d/%d hosts %d addrs, want %d/%d %d", n, tab.exact.n, tab.wild.n, tab.addrIdx.n, want.exact.n, want.wild.n, want.addrs.Len())
		}
		for i, hp := range reqs {
			req, buf := request("GET", hp[0], hp[1])
			g, w := tab.Match(req, buf), want.Match(req, buf)
			if (g == nil) != (w == nil) || g != nil && g.ID != w.ID || (i < n) != (g != nil) {
				t.Fatalf("%d routes: %s%s matched %v, want %v", n, hp[0], hp[1], g, w)
			}
		}
		for i := range all[:n] {
			if !tab.HasAddr(tab.Route(all[i].ID).Upstreams()[0].Addr) {
				t.Fatalf("%d routes: address of %s missing", n, all[i].ID)
			}
		}
	}
	if len(pages) < 3 {
		t.Fatalf("the exact index was paged %v: no re-page exercised", pages)
	}
}

// TestHostIndexWithChains checks hostIndex.with on pages whose slots hold chains of hosts
// with the same hash: a crafted Host can share a configured host's xxhash, so chains are
// real. Hashes are forged here (the index trusts the hash it is given for a node): the
// chain is rebuilt from copies when a page changes, and the index it came from keeps its
// chain intact.
func TestHostIndexWithChains(t *testing.T) {
	names := []string{"a.com", "b.com", "c.com", strings.Repeat("l", 50) + ".com"}
	h := xxhash.Sum64String("a.com")
	var hs []hashedNode
	for _, n := range names {
		hs = append(hs, hashedNode{h, newHostNode(n)}) // all four under a.com's hash
	}
	for i := range 600 {
		n := fmt.Sprintf("h%d.com", i)
		hs = append(hs, hashedNode{xxhash.Sum64String(n), newHostNode(n)})
	}
	x := buildHashed(hs)
	chain := func(x *hostIndex) []string {
		var out []string
		p := x.pages[h&uint64(len(x.pages)-1)]
		for i := range p {
			if p[i].hash == h {
				for n := p[i].node; n != nil; n = n.nextNode() {
					out = append(out, n.name())
				}
			}
		}
		slices.Sort(out)
		return out
	}
	if got := chain(&x); !slices.Equal(got, []string{"a.com", "b.com", "c.com", names[3]}) {
		t.Fatalf("chain %v", got)
	}
	// Delete another host of the chain's page: the page is rebuilt with the whole chain,
	// whose last node (no next link in x) is now chained behind others: by a copy.
	var other string
	for i := range 600 {
		if n := fmt.Sprintf("h%d.com", i); xxhash.Sum64String(n)&uint64(len(x.pages)-1) == h&uint64(len(x.pages)-1) {
			other = n
			break
		}
	}
	w := x.with(nil, []string{other})
	if w.get([]byte(other)) != nil || w.get([]byte("a.com")) == nil || !slices.Equal(chain(&w), chain(&x)) {
		t.Fatalf("delete of %s: chain %v, was %v", other, chain(&w), chain(&x))
	}
	if got := chain(&x); !slices.Equal(got, []string{"a.com", "b.com", "c.com", names[3]}) || x.get([]byte(other)) == nil {
		t.Fatalf("old chain changed by a rebuild of its page: %v", got)
	}
	// Delete a.com (the real owner of the hash) and replace c.com: the rest of the chain stays,
	// rebuilt from copies; the old index is untouched.
	c2 := newHostNode("c.com")
	y := x.with(nil, []string{"a.com"})
	if y.get([]byte("a.com")) != nil || y.n != x.n-1 {
		t.Fatalf("a.com still found after its delete (n %d)", y.n)
	}
	if got := chain(&y); !slices.Equal(got, []string{"b.com", "c.com", names[3]}) {
		t.Fatalf("chain after delete %v", got)
	}
	if got := chain(&x); !slices.Equal(got, []string{"a.com", "b.com", "c.com", names[3]}) || x.get([]byte("a.com")) == nil {
		t.Fatalf("old chain changed: %v", got)
	}
	// c.com is stored under a.com's (forged) hash, so with must be given that hash's page:
	// put it back with its real hash, next to the forged one.
	z := y.with([]*hostNode{c2}, nil)
	if z.get([]byte("c.com")) != c2 || z.n != y.n+1 {
		t.Fatalf("c.com not found with its real hash (n %d, was %d)", z.n, y.n)
	}
	for i := range 600 {
		n := fmt.Sprintf("h%d.com", i)
		if z.get([]byte(n)) == nil || x.get([]byte(n)) == nil {
			t.Fatalf("%s lost", n)
		}
	}
}

// TestHostIndexWith applies random batches of host puts and deletes with hostIndex.with
// and checks after each that every host is found (or not) as in a plain map, that the index
// it came from still answers as before (pages are shared, never written), and that
// re-paging (growth and shrinking) keeps every host.
func TestHostIndexWith(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[string]*hostNode{}
	var x hostIndex
	host := func(i int) string {
		if i%17 == 0 {
			return fmt.Sprintf("%s-%d.example.com", "long-host-name-over-the-inline-length-xxxxxxxx", i)
		}
		return fmt.Sprintf("h%d.example.com", i)
	}
	check := func(x *hostIndex, want map[string]*hostNode, batch int) {
		t.Helper()
		if x.n != len(want) {
			t.Fatalf("batch %d: index has %d hosts, want %d", batch, x.n, len(want))
		}
		for i := range 6000 {
			h := host(i)
			if got := x.get([]byte(h)); got != want[h] {
				t.Fatalf("batch %d: %s found %v, want %v", batch, h, got, want[h])
			}
		}
	}
	repaged := 0
	for batch := range 300 {
		old, oldWant := x, map[string]*hostNode{}
		for k, v := range want {
			oldWant[k] = v
		}
		var put []*hostNode
		var del []string
		size := 1 + rng.IntN(20)
		if batch%50 < 10 {
			size = 400 // grow fast, then shrink: re-paging both ways
		}
		used := map[string]bool{}
		for range size {
			h := host(rng.IntN(6000))
			if used[h] {
				continue // with takes puts and deletes of distinct hosts, as Table.With gives them
			}
			used[h] = true
			if batch%50 >= 40 || rng.IntN(3) == 0 {
				del = append(del, h)
				delete(want, h)
				continue
			}
			n := newHostNode(h)
			put = append(put, n)
			want[h] = n
		}
		x = x.with(put, del)
		if len(x.pages) != len(old.pages) {
			repaged++
		}
		check(&x, want, batch)
		check(&old, oldWant, batch)
	}
	if repaged < 2 {
		t.Fatalf("re-paged %d times: growth and shrinking not exercised", repaged)
	}
}
