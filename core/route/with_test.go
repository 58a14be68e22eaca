package route

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestWithMatchesCompile applies random batches of route creates, updates (new domains and
// targets), disables and deletes with Table.With, and checks after each that the table has
// the source, the routes (ids and indexes), the upstreams and the matches of a table compiled
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
		if tab, err = tab.With(put, del, opts); err != nil {
			t.Fatalf("batch %d: With: %v", batch, err)
		}
		all := make([]Route, 0, len(cur))
		for _, r := range cur {
			all = append(all, r)
		}
		slices.SortFunc(all, func(a, b Route) int { return strings.Compare(a.ID, b.ID) })
		want, err := Compile(all, opts)
		if err != nil {
			t.Fatalf("batch %d: Compile: %v", batch, err)
		}
		if !reflect.DeepEqual(derefs(tab.source), derefs(want.source)) {
			t.Fatalf("batch %d: sources differ", batch)
		}
		if len(tab.Routes()) != len(want.Routes()) || len(tab.entries) != len(want.entries) {
			t.Fatalf("batch %d: %d routes %d entries, want %d %d", batch, len(tab.Routes()), len(tab.entries), len(want.Routes()), len(want.entries))
		}
		for i, r := range want.Routes() {
			g := tab.Routes()[i]
			if g.ID != r.ID || g.Index != r.Index || g.Domain != r.Domain || !reflect.DeepEqual(addrsOf(g), addrsOf(r)) {
				t.Fatalf("batch %d: route %d is %s@%d %v, want %s@%d %v", batch, i, g.ID, g.Index, addrsOf(g), r.ID, r.Index, addrsOf(r))
			}
		}
		if !reflect.DeepEqual(sortedAddrs(tab), sortedAddrs(want)) || len(tab.upstreams) != len(want.upstreams) || len(tab.addrs) != len(want.addrs) {
			t.Fatalf("batch %d: %d upstreams %d addrs, want %d %d", batch, len(tab.upstreams), len(tab.addrs), len(want.upstreams), len(want.addrs))
		}
		for _, hp := range reqs {
			req, buf := request("GET", hp[0], hp[1])
			g, w := tab.Match(req, buf), want.Match(req, buf)
			if (g == nil) != (w == nil) || (g != nil && (g.ID != w.ID || g.Index != w.Index || g.Domain != w.Domain)) {
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
		for b.Loop() {
			r := routes[i%len(routes)].Clone()
			r.Name = fmt.Sprint("renamed ", i)
			if _, err := tab.With([]Route{r}, nil, opts); err != nil {
				b.Fatal(err)
			}
			i++
		}
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
	for a := range t.addrs {
		out = append(out, a.String())
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
