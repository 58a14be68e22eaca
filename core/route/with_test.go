package route

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/internal/testkit"
)

// TestWithMatchesCompile applies random batches of route creates, updates (new domains and
// targets), disables and deletes with Table.With, and checks after each that the table has
// the source, the routes, the upstreams and the matches of a table compiled
// from scratch with the same routes.
func TestWithMatchesCompile(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	gen, hostPaths := genRoutes(600)
	reg := NewRegistry()
	opts := CompileOptions{Seed: 1, Registry: reg}
	cur := map[string]Route{}
	reqs := hostPaths
	tab, err := Compile(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	for batch := range 120 {
		var put []Route
		var del []string
		used := map[string]bool{}
		for range 1 + rng.IntN(8) {
			i := rng.IntN(len(gen))
			r := gen[i].Clone()
			if used[r.ID] {
				continue
			}
			used[r.ID] = true
			switch op := rng.IntN(6); {
			case op == 0 && cur[r.ID].ID != "":
				del = append(del, r.ID)
				delete(cur, r.ID)
				continue
			case op == 1:
				r.Enabled = false
			case op == 2:
				r.Backend.Targets[0].Port = 20000 + batch
				r.Frontend.Domains = append(r.Frontend.Domains, fmt.Sprintf("extra%d.example.com/b%d", i, batch))
			}
			put = append(put, r)
			cur[r.ID] = r
		}
		prev := tab
		if tab, err = tab.With(put, del, opts); err != nil {
			t.Fatalf("batch %d: With: %v", batch, err)
		}
		checkSlots(t, batch, prev, tab)
		all := make([]Route, 0, len(cur))
		for _, r := range cur {
			all = append(all, r)
		}
		slices.SortFunc(all, func(a, b Route) int { return strings.Compare(a.ID, b.ID) })
		want, err := Compile(all, opts)
		if err != nil {
			t.Fatalf("batch %d: Compile: %v", batch, err)
		}
		if !reflect.DeepEqual(derefs(tableSources(tab)), derefs(tableSources(want))) {
			t.Fatalf("batch %d: sources differ", batch)
		}
		if len(tab.Routes()) != len(want.Routes()) || tab.nentries != want.nentries {
			t.Fatalf("batch %d: %d routes %d entries, want %d %d", batch, len(tab.Routes()), tab.nentries, len(want.Routes()), want.nentries)
		}
		for _, r := range want.Routes() {
			g := tab.Route(r.ID)
			if g == nil || g.Domain != r.Domain || !reflect.DeepEqual(addrsOf(g), addrsOf(r)) {
				t.Fatalf("batch %d: route %s is %v, want %s %v", batch, r.ID, g, r.Domain, addrsOf(r))
			}
		}
		if !reflect.DeepEqual(sortedAddrs(tab), sortedAddrs(want)) || tab.upstreams.Len() != want.upstreams.Len() || tab.addrs.Len() != want.addrs.Len() {
			t.Fatalf("batch %d: %d upstreams %d addrs, want %d %d", batch, tab.upstreams.Len(), tab.addrs.Len(), want.upstreams.Len(), want.addrs.Len())
		}
		for _, hp := range reqs {
			req, buf := request("GET", hp[0], hp[1])
			g, w := tab.Match(req, buf), want.Match(req, buf)
			if (g == nil) != (w == nil) || (g != nil && (g.ID != w.ID || g.Domain != w.Domain)) {
				t.Fatalf("batch %d: %s%s matched %v, want %v", batch, hp[0], hp[1], g, w)
			}
		}
	}
}

func addrsOf(c *Compiled) []string {
	var out []string
	for _, u := range c.Upstreams() {
		out = append(out, u.Addr.String())
	}
	return out
}

// BenchmarkWith100k measures one route update in a 100k-route table (Table.With), against
// compiling the whole table again (Compile), as every route write did before.
func BenchmarkWith100k(b *testing.B) {
	routes, _ := genRoutes(100_000)
	opts := CompileOptions{Seed: 1}
	tab, err := Compile(routes, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("With", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		testkit.ReportCPU(b, func() {
			for b.Loop() {
				r := routes[(i*7919)%len(routes)].Clone()
				r.Name = fmt.Sprint("renamed ", i)
				if _, err := tab.With([]Route{r}, nil, opts); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
	b.Run("With/create-delete", func(b *testing.B) {
		// Each op adds a route on a new host or deletes the one the previous op added, on
		// the table the previous op returned: a chain of tables, as admin writes make.
		b.ReportAllocs()
		cur, i := tab, 0
		testkit.ReportCPU(b, func() {
			for b.Loop() {
				var put []Route
				var del []string
				if i%2 == 0 {
					r := routes[0].Clone()
					r.ID, r.Frontend.Domains = fmt.Sprint("new_", i), []string{fmt.Sprintf("new%d.example.com", i)}
					put = []Route{r}
				} else {
					del = []string{fmt.Sprint("new_", i-1)}
				}
				next, err := cur.With(put, del, opts)
				if err != nil {
					b.Fatal(err)
				}
				cur = next
				i++
			}
		})
	})
	b.Run("Compile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Compile(routes, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func sortedAddrs(t *Table) []string {
	var out []string
	for k := range t.addrs.All() {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func derefs(rs []*Route) []Route {
	out := make([]Route, len(rs))
	for i, r := range rs {
		out[i] = *r
	}
	return out
}

// checkSlots checks that With gave every route of next a distinct Index below Slots, that
// routes of prev keep theirs, that a new route takes a slot no route of prev held, and that
// next.Delta() turns prev's routes into next's.
func checkSlots(t *testing.T, batch int, prev, next *Table) {
	t.Helper()
	byIndex := map[int]*Compiled{}
	for _, c := range next.Routes() {
		if c.Index < 0 || c.Index >= next.Slots() || byIndex[c.Index] != nil {
			t.Fatalf("batch %d: route %s has Index %d (slots %d, taken by %v)", batch, c.ID, c.Index, next.Slots(), byIndex[c.Index])
		}
		byIndex[c.Index] = c
		if next.RouteAt(c.Index) != c {
			t.Fatalf("batch %d: RouteAt(%d) = %v, want %s", batch, c.Index, next.RouteAt(c.Index), c.ID)
		}
		for _, e := range recEntries(next, c.ID) {
			if e.Index != c.Index {
				t.Fatalf("batch %d: route %s domain %s has Index %d, want %d", batch, c.ID, e.Domain, e.Index, c.Index)
			}
		}
		if o := prev.Route(c.ID); o != nil && o.Index != c.Index {
			t.Fatalf("batch %d: route %s moved from slot %d to %d", batch, c.ID, o.Index, c.Index)
		} else if o == nil && prev.RouteAt(c.Index) != nil {
			t.Fatalf("batch %d: new route %s took slot %d of %s", batch, c.ID, c.Index, prev.RouteAt(c.Index).ID)
		}
	}
	for i := range next.Slots() {
		if next.RouteAt(i) != byIndex[i] {
			t.Fatalf("batch %d: RouteAt(%d) = %v, want %v", batch, i, next.RouteAt(i), byIndex[i])
		}
	}
	d := next.Delta()
	if d == nil {
		t.Fatalf("batch %d: With returned no Delta", batch)
	}
	set := map[string]*Compiled{}
	for _, c := range prev.Routes() {
		set[c.ID] = c
	}
	for _, c := range d.Removed {
		if set[c.ID] != c {
			t.Fatalf("batch %d: Delta removes %s, which the old table does not have as such", batch, c.ID)
		}
		delete(set, c.ID)
	}
	for _, c := range d.Added {
		if set[c.ID] != nil {
			t.Fatalf("batch %d: Delta adds %s twice", batch, c.ID)
		}
		set[c.ID] = c
	}
	if len(set) != len(next.Routes()) {
		t.Fatalf("batch %d: old routes + Delta = %d routes, want %d", batch, len(set), len(next.Routes()))
	}
	for _, c := range next.Routes() {
		if set[c.ID] != c {
			t.Fatalf("batch %d: old routes + Delta has %v for %s, want %v", batch, set[c.ID], c.ID, c)
		}
	}
	hosts := map[string]bool{}
	for _, h := range prev.Hostnames() {
		hosts[h] = true
	}
	for _, h := range d.HostsRemoved {
		delete(hosts, h)
	}
	for _, h := range d.HostsAdded {
		hosts[h] = true
	}
	if len(hosts) != len(next.Hostnames()) {
		t.Fatalf("batch %d: old hostnames + Delta = %d, want %d", batch, len(hosts), len(next.Hostnames()))
	}
}

// recEntries returns the domain entries of the route id in t.
func recEntries(t *Table, id string) []*Compiled {
	r, _ := t.recs.Get(id)
	if r == nil {
		return nil
	}
	return r.entries
}
