package route

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/httpparse"
	"github.com/torii-gateway/torii/internal/testkit"
)

// baseline is the routing a simple proxy would write: a map of exact hosts to their routes
// scanned in order for the longest prefix, lower-casing with strings.ToLower, then a linear
// scan of the wildcard routes.
type baseline struct {
	exact map[string][]baseRoute
	wild  []baseRoute
}

type baseRoute struct {
	id, host, prefix string
	methods          []string
}

func newBaseline(routes []Route) *baseline {
	b := &baseline{exact: make(map[string][]baseRoute)}
	for _, r := range routes {
		if !r.Enabled {
			continue
		}
		for _, d := range r.Frontend.Domains {
			host, path := d, "/"
			if i := strings.IndexByte(d, '/'); i >= 0 {
				host, path = d[:i], d[i:]
			}
			br := baseRoute{r.ID, strings.ToLower(host), path, r.Frontend.Methods}
			if strings.HasPrefix(host, "*.") {
				b.wild = append(b.wild, br)
			} else {
				b.exact[br.host] = append(b.exact[br.host], br)
			}
		}
	}
	return b
}

func (b *baseline) match(req *httpparse.Request, buf []byte) string {
	host := strings.ToLower(string(req.Host.Bytes(buf)))
	if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	path := string(req.Path.Bytes(buf))
	method := string(req.Method.Bytes(buf))
	best, bestLen := "", -1
	for _, r := range b.exact[host] {
		if strings.HasPrefix(path, r.prefix) && len(r.prefix) > bestLen && (len(r.methods) == 0 || contains(r.methods, method)) {
			best, bestLen = r.id, len(r.prefix)
		}
	}
	if best != "" {
		return best
	}
	for _, r := range b.wild {
		if strings.HasSuffix(host, r.host[1:]) && strings.HasPrefix(path, r.prefix) && len(r.prefix) > bestLen {
			best, bestLen = r.id, len(r.prefix)
		}
	}
	return best
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 1000, 10000, 100000} {
		tab, reqs := genTable(b, n)
		match := func(tab *Table) func(b *testing.B) {
			return func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				testkit.ReportCPU(b, func() {
					for b.Loop() {
						r := &reqs[i]
						if tab.Match(r.req, r.buf) == nil {
							b.Fatal("no match")
						}
						i++
						if i == len(reqs) {
							i = 0
						}
					}
				})
			}
		}
		b.Run(fmt.Sprintf("routes=%d", n), match(tab))
		// The same table with its host indexes in one page each: the flat index of before
		// issue 15 but for one load of the one-entry directory (always in cache), to measure
		// what paging costs in the same process (-count interleaves the two).
		flat := &Table{exact: onePage(&tab.exact), wild: onePage(&tab.wild), wildLens: tab.wildLens, globs: tab.globs, any: tab.any}
		b.Run(fmt.Sprintf("routes=%d,onepage", n), match(flat))
		b.Run(fmt.Sprintf("hot/routes=%d", n), func(b *testing.B) {
			// One request over and over (a lower-case Host on an exact-host route): request
			// and table path stay in cache, as when a request was just parsed and its host
			// is busy.
			b.ReportAllocs()
			req, buf := request("GET", "svc0.example.com", "/items/42?q=1", "User-Agent: bench", "Accept: */*")
			r := &parsedReq{req, buf, "route_0"}
			testkit.ReportCPU(b, func() {
				for b.Loop() {
					if tab.Match(r.req, r.buf) == nil {
						b.Fatal("no match")
					}
				}
			})
		})
		base := newBaseline(derefs(tableSources(tab)))
		b.Run(fmt.Sprintf("baseline/routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			testkit.ReportCPU(b, func() {
				for b.Loop() {
					r := &reqs[i]
					if base.match(r.req, r.buf) == "" {
						b.Fatal("no match")
					}
					i++
					if i == len(reqs) {
						i = 0
					}
				}
			})
		})
	}
}

// pickSetup compiles one route with 4 targets under each algorithm.
func pickSetup(tb testing.TB) map[string]*Compiled {
	out := make(map[string]*Compiled)
	lbs := []string{
		`{"type":"RoundRobin"}`, `{"type":"Random"}`, `{"type":"Sticky"}`, `{"type":"IpAddressHash"}`,
		`{"type":"HeaderHash","header_name":"X-User"}`, `{"type":"CookieHash","cookie_name":"sid"}`,
		`{"type":"QueryHash","query_name":"u"}`, `{"type":"BestResponseTime"}`,
		`{"type":"WeightedBestResponseTime"}`, `{"type":"LeastConnections"}`,
		`{"type":"PowerOfTwoRandomChoices"}`, `{"type":"NaiveFailover"}`,
	}
	for _, lb := range lbs {
		tab := mustCompile(tb, lbRoute(lb, "1:1", "2:2", "3:1", "4:3", "5:1b"), CompileOptions{Seed: 7})
		c := tab.Route("r")
		for i := range c.Upstreams() {
			c.Report(&c.Upstreams()[i], true, time.Duration(i+1)*time.Millisecond)
		}
		out[c.Balancing().String()] = c
	}
	return out
}

func pickInput() *PickInput {
	req, buf := request("GET", "h.com", "/x?a=1&u=alice", "X-User: alice", "Cookie: otoroshi-tracking=abc; sid=s1")
	return &PickInput{ClientIP: netip.MustParseAddr("192.0.2.7"), Req: req, Buf: buf}
}

func BenchmarkPick(b *testing.B) {
	in := pickInput()
	cs := pickSetup(b)
	for _, name := range slices.Sorted(maps.Keys(cs)) {
		c := cs[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			testkit.ReportCPU(b, func() {
				for b.Loop() {
					if u, _ := c.Pick(in); u == nil {
						b.Fatal("no target")
					}
				}
			})
		})
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	u := &pickSetup(b)["LeastConnections"].Upstreams()[0]
	b.ReportAllocs()
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			u.Acquire()
			u.Release()
		}
	})
}

// naiveRR is the load balancer a simple proxy writes: weights expanded into a slice of
// targets (bursty, not smooth), one mutex around the position. It is the Pick baseline.
type naiveRR struct {
	mu   sync.Mutex
	pos  int
	list []int
}

func newNaiveRR(weights ...int) *naiveRR {
	n := &naiveRR{}
	for i, w := range weights {
		for range w {
			n.list = append(n.list, i)
		}
	}
	return n
}

func (n *naiveRR) pick() int {
	n.mu.Lock()
	i := n.list[n.pos%len(n.list)]
	n.pos++
	n.mu.Unlock()
	return i
}

func BenchmarkPickBaseline(b *testing.B) {
	n := newNaiveRR(1, 2, 1, 3)
	b.ReportAllocs()
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			n.pick()
		}
	})
}

// BenchmarkPickParallel picks from every core at once: the per-route counters are alone on
// their cache lines, the baseline shares a mutex.
func BenchmarkPickParallel(b *testing.B) {
	c := pickSetup(b)["RoundRobin"]
	b.Run("RoundRobin", func(b *testing.B) {
		b.ReportAllocs()
		testkit.ReportCPU(b, func() {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.Pick(nil)
				}
			})
		})
	})
	n := newNaiveRR(1, 2, 1, 3)
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		testkit.ReportCPU(b, func() {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n.pick()
				}
			})
		})
	})
}

func BenchmarkReport(b *testing.B) {
	c := pickSetup(b)["RoundRobin"]
	u := &c.Upstreams()[0]
	b.ReportAllocs()
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			c.Report(u, true, time.Millisecond)
		}
	})
}

func BenchmarkRewritePath(b *testing.B) {
	tab := mustCompile(b, `[{"id":"r","frontend":{"domains":["h.com/api"]},"backend":{"root":"/v2","targets":[{"hostname":"127.0.0.1","port":1}]}}]`, CompileOptions{})
	c := tab.Route("r")
	path := []byte("/api/users/42")
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(path)))
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			dst = c.RewritePath(dst[:0], path)
		}
	})
}

// BenchmarkCompile measures a reload: validating and indexing 10,000 routes (targets are
// IP literals, so no DNS), with a registry that already holds their state.
func BenchmarkCompile(b *testing.B) {
	routes, _ := genRoutes(10000)
	reg := NewRegistry()
	if _, err := Compile(routes, CompileOptions{Registry: reg}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			if _, err := Compile(routes, CompileOptions{Registry: reg}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// onePage returns x's hosts in an index of one page.
func onePage(x *hostIndex) hostIndex {
	var all []hashedNode
	for _, p := range x.pages {
		all = hostPageNodes(p, all)
	}
	return buildPaged(all, len(all)+1)
}
