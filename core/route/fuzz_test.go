package route

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/httpparse"
)

// slowMatch is the reference for Table.Match: the documented rules applied by scanning
// every entry, without any index.
func slowMatch(t *Table, req *httpparse.Request, buf []byte) *Compiled {
	rawHost, _ := splitHost(req.Host.Bytes(buf))
	host := strings.ToLower(string(rawHost))
	path := string(req.Path.Bytes(buf))
	if path == "" {
		path = "/"
	}
	var tiers []string
	if len(host) <= maxHostLen {
		tiers = append(tiers, host)
		// Every wildcard pattern that takes host, longest first, "*.suffix" before a glob
		// of the same length.
		var wild []string
		seen := map[string]bool{}
		for _, e := range tableEntries(t) {
			p := e.Domain[:len(e.Domain)-len(e.Prefix)]
			if p == "*" || !strings.Contains(p, "*") || seen[p] {
				continue
			}
			seen[p] = true
			if isSuffixWildcard(p) {
				if strings.HasSuffix(host, p[1:]) && len(host) >= len(p) {
					wild = append(wild, p)
				}
			} else if globRegexp(p).MatchString(host) {
				wild = append(wild, p)
			}
		}
		slices.SortStableFunc(wild, func(a, b string) int {
			if len(a) != len(b) {
				return len(b) - len(a)
			}
			if isSuffixWildcard(a) != isSuffixWildcard(b) {
				if isSuffixWildcard(a) {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		tiers = append(tiers, wild...)
	}
	tiers = append(tiers, "*")
	for _, tier := range tiers {
		var cands []*Compiled
		for _, e := range tableEntries(t) {
			if e.Domain[:len(e.Domain)-len(e.Prefix)] != tier {
				continue
			}
			if e.Exact && path == e.Prefix || !e.Exact && strings.HasPrefix(path, e.Prefix) {
				cands = append(cands, e)
			}
		}
		// Exact paths first, then longer prefixes, then more matchers, then route id.
		slices.SortStableFunc(cands, func(a, b *Compiled) int {
			la, lb := len(a.Prefix), len(b.Prefix)
			if a.Exact {
				la = 1 << 20
			}
			if b.Exact {
				lb = 1 << 20
			}
			if la != lb {
				return lb - la
			}
			return b.match.weight() - a.match.weight()
		})
		for _, c := range cands {
			if c.match.ok(req, buf) {
				return c
			}
		}
	}
	return nil
}

// globRegexp turns a host glob into the regular expression Otoroshi would use: '*' is ".*".
func globRegexp(p string) *regexp.Regexp {
	parts := strings.Split(p, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^(?s:" + strings.Join(parts, ".*") + ")$")
}

func TestGlobMatch(t *testing.T) {
	f := func(p, s string, want bool) {
		t.Helper()
		if got := globMatch(p, []byte(s)); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, want %v", p, s, got, want)
		}
		if ref := globRegexp(p).MatchString(s); ref != want {
			t.Fatalf("reference disagrees on (%q, %q)", p, s)
		}
	}
	f("api-*.a.com", "api-1.a.com", true)
	f("api-*.a.com", "api-.a.com", true)
	f("api-*.a.com", "api-1.b.com", false)
	f("*-prod.*.com", "web-prod.eu.com", true)
	f("*-prod.*.com", "web-prod.com", false)
	f("a*b*c", "abc", true)
	f("a*b*c", "aXbYbZc", true)
	f("a*b*c", "aXbYc!", false)
	f("*", "", true)
	f("a*", "", false)
}

func FuzzGlobMatch(f *testing.F) {
	f.Add("api-*.a.com", "api-1.a.com")
	f.Add("*-prod.*.com", "web-prod.eu.com")
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 64 || len(s) > 256 || !isASCII(p) || !isASCII(s) {
			return // the regexp reference works on UTF-8 runes; hosts are ASCII
		}
		if got, want := globMatch(p, []byte(s)), globRegexp(p).MatchString(s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, regexp says %v", p, s, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

const fuzzRoutes = `[
 {"id":"a","frontend":{"domains":["a.com","a.com/x","a.com/xy/z","A.com/p1","a.com/p2","a.com/p3","a.com/p4","a.com/p5","a.com/p6","a.com/p7","a.com/p8/9"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":1}]}},
 {"id":"a-get","frontend":{"domains":["a.com/x"],"methods":["GET"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":1}]}},
 {"id":"a-hdr","frontend":{"domains":["a.com/x"],"headers":{"X-K":"v"},"methods":["GET"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":1}]}},
 {"id":"a-exact","frontend":{"domains":["a.com/x"],"exact":true,"query":{"q":"1"}},"backend":{"targets":[{"hostname":"127.0.0.1","port":1}]}},
 {"id":"w","frontend":{"domains":["*.a.com/", "*.b.a.com/deep"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":1}]}},
 {"id":"w2","frontend":{"domains":["*.c.b.a.com/deep/er"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":1}]}},
 {"id":"any","frontend":{"domains":["*/any"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":1}]}},
 {"id":"v6","frontend":{"domains":["[::1]/six"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":1}]}},
 {"id":"g1","frontend":{"domains":["api-*.a.com","x.*.a.com/deep","*.b.*.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":1}]}},
 {"id":"g2","frontend":{"domains":["*-prod.*.com/any","y*.a.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":1}]}}
]`

func checkAgainstReference(t *testing.T, tab *Table, method, host, target, header string) {
	t.Helper()
	req, buf := request(method, host, target, header)
	got, want := tab.Match(req, buf), slowMatch(tab, req, buf)
	if got != want {
		name := func(c *Compiled) string {
			if c == nil {
				return "<nil>"
			}
			return c.ID + " " + c.Domain
		}
		t.Fatalf("%s %q %q %q: Match gave %s, the reference %s", method, host, target, header, name(got), name(want))
	}
}

func TestMatchAgainstReference(t *testing.T) {
	tab := mustCompile(t, fuzzRoutes, CompileOptions{})
	hosts := []string{"api-1.a.com", "api-.a.com", "x.b.a.com", "x.y.b.a.com", "q.b.a.com", "web-prod.a.com", "yy.a.com", "y.b.c.com",
		"a.com", "A.COM:80", "a.com.", "x.a.com", "x.b.a.com", "y.c.b.a.com", "a.b.c.b.a.com", "b.a.com",
		"a.co", "aa.com", "", "[::1]:9", "[::1", ".a.com", "z.com"}
	paths := []string{"/", "", "/x", "/xy", "/xy/z/1", "/x?q=1", "/x?q=2", "/p1", "/p8/9/0", "/p9", "/deep", "/deep/er/x", "/any", "/six", "/X"}
	methods := []string{"GET", "POST", "PURGE"}
	headers := []string{"X-K: v", "x-k: w", "Y: v"}
	for _, h := range hosts {
		for _, p := range paths {
			for _, m := range methods {
				for _, hd := range headers {
					checkAgainstReference(t, tab, m, h, p, hd)
				}
			}
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("GET", "a.com", "/x", "X-K: v")
	f.Add("POST", "x.b.a.com:8080", "/deep/1?q=1", "")
	f.Add("GET", "[::1]:1", "/six", "Host: x")
	tab := mustCompile(f, fuzzRoutes, CompileOptions{})
	f.Fuzz(func(t *testing.T, method, host, target, header string) {
		if method == "" || strings.ContainsAny(method+host+target+header, "\r\n") {
			return
		}
		if !isASCII(host) { // the reference's regexp works on runes: only check for panics
			req, buf := request(method, host, target, header)
			tab.Match(req, buf)
			return
		}
		checkAgainstReference(t, tab, method, host, target, header)
	})
}

// noDNS fails every lookup at once: fuzzed hostnames must not reach the network.
var noDNS = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no DNS in tests")
}}

func FuzzDecodeCompile(f *testing.F) {
	f.Add([]byte(matchRoutes))
	f.Add([]byte(fuzzRoutes))
	f.Add([]byte(`{"routes":[{"id":"x","frontend":{"domains":["*"]},"backend":{"targets":[{"hostname":"h","port":1,"weight":0,"backup":true}]}}]}`))
	if data, err := os.ReadFile("testdata/otoroshi-export-tunnel-demo.json"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		routes, err := DecodeRoutes(data)
		if err != nil {
			return
		}
		// Encoding is stable: decode(encode(x)) encodes to the same bytes.
		enc1, err := json.Marshal(routes)
		if err != nil {
			t.Fatalf("cannot encode decoded routes: %s", err)
		}
		again, err := DecodeRoutes(enc1)
		if err != nil {
			t.Fatalf("cannot decode our own encoding %s: %s", enc1, err)
		}
		enc2, _ := json.Marshal(again)
		if string(enc1) != string(enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc1, enc2)
		}
		tab, err := Compile(routes, CompileOptions{Resolver: noDNS})
		if err != nil {
			return
		}
		for _, c := range tab.Routes() {
			req, buf := request("GET", strings.TrimPrefix(c.Domain[:len(c.Domain)-len(c.Prefix)], "*"), c.Prefix)
			tab.Match(req, buf)
			if u, _ := c.Pick(&PickInput{Req: req, Buf: buf}); u != nil {
				c.Report(u, false, 0)
			}
			c.RewritePath(nil, []byte(c.Prefix+"/x"))
		}
	})
}
