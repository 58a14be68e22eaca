package route

import (
	"fmt"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/httpparse"
)

// genRoutes builds n enabled routes mixing the shapes seen in practice: 60 % exact hosts,
// 20 % paths sharing a host (50 prefixes per host), 10 % wildcard hosts and 10 % exact
// hosts with a path and a methods matcher. It returns the routes and, for each, a request
// (host, path) it must match.
func genRoutes(n int) ([]Route, [][2]string) {
	routes := make([]Route, 0, n)
	reqs := make([][2]string, 0, n)
	for i := range n {
		r := Route{ID: fmt.Sprintf("route_%d", i), Enabled: true,
			Frontend: Frontend{StripPath: true},
			Backend:  defaultBackend()}
		r.Backend.Targets = []Target{{ID: "t1", Hostname: "127.0.0.1", Port: 10000 + i%5000, Weight: 1, Protocol: "HTTP/1.1"}}
		var host, path string
		switch i % 10 {
		case 0, 1, 2, 3, 4, 5:
			host = fmt.Sprintf("svc%d.example.com", i)
			r.Frontend.Domains = []string{host}
			path = "/items/42"
		case 6, 7:
			host = fmt.Sprintf("api%d.example.net", i/50)
			r.Frontend.Domains = []string{fmt.Sprintf("%s/v%d/res", host, i)}
			path = fmt.Sprintf("/v%d/res/7", i)
		case 8:
			r.Frontend.Domains = []string{fmt.Sprintf("*.tenant%d.example.org", i)}
			host = fmt.Sprintf("shop.tenant%d.example.org", i)
			path = "/"
		case 9:
			host = fmt.Sprintf("m%d.example.io", i)
			r.Frontend.Domains = []string{host + "/orders"}
			r.Frontend.Methods = []string{"GET", "POST"}
			path = "/orders/1"
		}
		routes = append(routes, r)
		reqs = append(reqs, [2]string{host, path})
	}
	return routes, reqs
}

// parsedReq is a request built by hand with its buffer.
type parsedReq struct {
	req *httpparse.Request
	buf []byte
	id  string
}

func genTable(tb testing.TB, n int) (*Table, []parsedReq) {
	tb.Helper()
	routes, hostPaths := genRoutes(n)
	tab, err := Compile(routes, CompileOptions{Seed: 1})
	if err != nil {
		tb.Fatalf("cannot compile %d generated routes: %s", n, err)
	}
	step := max(1, n/1024)
	var reqs []parsedReq
	for i := 0; i < n; i += step {
		hp := hostPaths[i]
		host := hp[0]
		if i%3 == 0 {
			host = strings.ToUpper(host[:1]) + host[1:] + ":8080"
		}
		req, buf := request("GET", host, hp[1]+"?q=1", "User-Agent: bench", "Accept: */*")
		reqs = append(reqs, parsedReq{req, buf, routes[i].ID})
	}
	return tab, compact(reqs)
}

// compact moves the requests, their headers and buffers into three contiguous arrays, as
// a proxy's per-connection buffers would be, so that benchmarks measure the table rather
// than cache misses on scattered test fixtures.
func compact(reqs []parsedReq) []parsedReq {
	structs := make([]httpparse.Request, len(reqs))
	var nh, nb int
	for _, r := range reqs {
		nh += len(r.req.Headers)
		nb += len(r.buf)
	}
	headers := make([]httpparse.Header, 0, nh)
	arena := make([]byte, 0, nb)
	out := make([]parsedReq, len(reqs))
	for i, r := range reqs {
		structs[i] = *r.req
		h0 := len(headers)
		headers = append(headers, r.req.Headers...)
		structs[i].Headers = headers[h0:len(headers):len(headers)]
		b0 := len(arena)
		arena = append(arena, r.buf...)
		out[i] = parsedReq{&structs[i], arena[b0:len(arena):len(arena)], r.id}
	}
	return out
}

func TestGeneratedTablesMatch(t *testing.T) {
	for _, n := range []int{10, 1000, 10000} {
		tab, reqs := genTable(t, n)
		base := newBaseline(derefs(tableSources(tab)))
		for _, r := range reqs {
			c := tab.Match(r.req, r.buf)
			if c == nil || c.ID != r.id {
				got := "<nil>"
				if c != nil {
					got = c.ID
				}
				t.Fatalf("n=%d: %q matched %s, want %s", n, r.buf, got, r.id)
			}
			if got := base.match(r.req, r.buf); got != r.id {
				t.Fatalf("n=%d: baseline matched %s, want %s", n, got, r.id)
			}
		}
	}
}
