package route

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

const matchRoutes = `[
 {"id":"root","frontend":{"domains":["api.example.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9001}]}},
 {"id":"users","frontend":{"domains":["api.example.com/users"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9002}]}},
 {"id":"users-v2","frontend":{"domains":["api.example.com/users/v2"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9003}]}},
 {"id":"exact","frontend":{"domains":["api.example.com/ping"],"exact":true},"backend":{"targets":[{"hostname":"127.0.0.1","port":9004}]}},
 {"id":"wild","frontend":{"domains":["*.example.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9005}]}},
 {"id":"wild-deep","frontend":{"domains":["*.eu.example.com/x"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9006}]}},
 {"id":"catch-all","frontend":{"domains":["*/fallback"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9007}]}},
 {"id":"off","enabled":false,"frontend":{"domains":["off.example.org"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9008}]}},
 {"id":"post-only","frontend":{"domains":["m.example.org/items"],"methods":["post","PURGE"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9009}]}},
 {"id":"items","frontend":{"domains":["m.example.org/items"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9010}]}},
 {"id":"hdr","frontend":{"domains":["m.example.org/h"],"headers":{"X-Tenant":"acme"}},"backend":{"targets":[{"hostname":"127.0.0.1","port":9011}]}},
 {"id":"qry","frontend":{"domains":["m.example.org/h"],"query":{"v":"2"}},"backend":{"targets":[{"hostname":"127.0.0.1","port":9012}]}},
 {"id":"glob","frontend":{"domains":["api-*.example.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9013}]}},
 {"id":"glob-mid","frontend":{"domains":["shop.*.example.net"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":9014}]}}
]`

func TestMatch(t *testing.T) {
	tab := mustCompile(t, matchRoutes, CompileOptions{})
	f := func(method, host, target, want string, headers ...string) {
		t.Helper()
		req, buf := request(method, host, target, headers...)
		got := "<nil>"
		if c := tab.Match(req, buf); c != nil {
			got = c.ID
		}
		if got != want {
			t.Fatalf("%s %s%s: matched %s, want %s", method, host, target, got, want)
		}
	}
	for i, c := range tab.Routes() {
		if c.Index != i {
			t.Fatalf("route %s has Index %d, want %d", c.ID, c.Index, i)
		}
	}
	f("GET", "api.example.com", "/", "root")
	f("GET", "API.Example.COM:8080", "/other", "root")
	f("GET", "api.example.com.", "/users", "users")
	f("GET", "api.example.com", "/users/1", "users")
	f("GET", "api.example.com", "/usersxyz", "users") // raw prefix, as Otoroshi
	f("GET", "api.example.com", "/users/v2/1?x=1", "users-v2")
	f("GET", "api.example.com", "/ping", "exact")
	f("GET", "api.example.com", "/ping/x", "root")
	f("GET", "a.example.com", "/", "wild")
	f("GET", "a.b.example.com", "/", "wild")
	f("GET", "x.eu.example.com", "/x/1", "wild-deep")
	f("GET", "x.eu.example.com", "/y", "wild") // no path of the longer wildcard: next one
	f("GET", "example.com", "/", "<nil>")      // "*.example.com" needs a label
	f("GET", "nothing.org", "/fallback/1", "catch-all")
	f("GET", "", "/fallback", "catch-all")
	f("GET", "nothing.org", "/", "<nil>")
	f("GET", "off.example.org", "/", "<nil>")
	f("POST", "m.example.org", "/items", "post-only")
	f("PURGE", "m.example.org", "/items", "post-only")
	f("GET", "m.example.org", "/items", "items")
	f("GET", "m.example.org", "/h", "hdr", "x-tenant: acme")
	f("GET", "m.example.org", "/h", "<nil>", "X-Tenant: other")
	f("GET", "m.example.org", "/h?a=1&v=2", "qry")
	f("GET", "m.example.org", "/h?v=22", "<nil>")
	f("GET", "[::1]:8080", "/fallback", "catch-all")
	f("GET", "api-eu.example.com", "/", "glob")      // "api-*.example.com" is longer than "*.example.com"
	f("GET", "x.api-eu.example.com", "/", "wild")    // the glob is anchored
	f("GET", "shop.fr.example.net", "/", "glob-mid") // '*' in the middle
	f("GET", "shop.example.net", "/", "<nil>")
	f("GET", strings.Repeat("a", 300)+".example.com", "/", "<nil>")
}

func TestMatchManyPrefixes(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range 50 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"r%d","frontend":{"domains":["h.com/p%d"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":80}]}}`, i, i)
	}
	b.WriteString("]")
	tab := mustCompile(t, b.String(), CompileOptions{})
	f := func(path, want string) {
		t.Helper()
		req, buf := request("GET", "h.com", path)
		got := "<nil>"
		if c := tab.Match(req, buf); c != nil {
			got = c.ID
		}
		if got != want {
			t.Fatalf("%s: got %s, want %s", path, got, want)
		}
	}
	f("/p1", "r1")
	f("/p12/x", "r12") // "/p12" is longer than "/p1"
	f("/p49", "r49")
	f("/p5", "r5")
	f("/q", "<nil>")
}

func TestRewritePath(t *testing.T) {
	f := func(domain string, strip bool, root, path, want string) {
		t.Helper()
		js := fmt.Sprintf(`[{"id":"r","frontend":{"domains":[%q],"strip_path":%v},"backend":{"root":%q,"targets":[{"hostname":"127.0.0.1","port":80}]}}]`, domain, strip, root)
		tab := mustCompile(t, js, CompileOptions{})
		req, buf := request("GET", "h.com", path)
		c := tab.Match(req, buf)
		if c == nil {
			t.Fatalf("%s %s: no match", domain, path)
		}
		dst := make([]byte, 0, 64)
		if got := string(c.RewritePath(dst, []byte(path))); got != want {
			t.Fatalf("domain %s strip=%v root %s path %s: got %s, want %s", domain, strip, root, path, got, want)
		}
	}
	f("h.com/api", true, "/", "/api/users", "/users")
	f("h.com/api", true, "/", "/api", "/")
	f("h.com/api", true, "/v2", "/api/users", "/v2/users")
	f("h.com/api", true, "/v2/", "/api/users", "/v2/users")
	f("h.com/api", true, "/v2", "/apikeys", "/v2/keys")
	f("h.com/api/", true, "/", "/api/users", "/users")
	f("h.com/api", false, "/", "/api/users", "/api/users")
	f("h.com/api", false, "/v2", "/api/users", "/v2/api/users")
	f("h.com", true, "/", "/a/b", "/a/b")
	f("h.com", true, "/base", "/a/b", "/base/a/b")
	f("h.com", true, "/base", "/", "/base")
}

func TestHostIndexComparesBytes(t *testing.T) {
	long := strings.Repeat("x", inlineHostLen) + ".com"
	a, b, l := newHostNode("a.com"), newHostNode("b.com"), newHostNode(long)
	x := buildHostIndex([]*hostNode{a, b, l})
	if x.get([]byte("a.com")) != a || x.get([]byte(long)) != l || x.get([]byte("c.com")) != nil {
		t.Fatalf("plain lookups failed")
	}
	// Simulate colliding hosts chained in front of a.com and of the long host: lookups walk
	// the chain and compare bytes, so no host can reach another's node.
	for _, p := range x.pages {
		for i := range p {
			if n := p[i].node; n == a || n == l {
				evil := newHostNode("evil.com")
				evil.chain(n)
				p[i].node = evil
			}
		}
	}
	if x.get([]byte("a.com")) != a || x.get([]byte(long)) != l {
		t.Fatalf("hosts not found behind a colliding node")
	}
	if n := x.get([]byte("a.co")); n != nil {
		t.Fatalf("a.co found %q", n.name())
	}
	var empty hostIndex
	if empty.get([]byte("a.com")) != nil {
		t.Fatalf("empty index found a host")
	}
	if size := unsafe.Sizeof(hostNode{}); size != 128 {
		t.Fatalf("hostNode is %d bytes; keep it at two cache lines (128)", size)
	}
}
