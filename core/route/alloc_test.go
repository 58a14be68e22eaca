//go:build !race

package route

import (
	"strings"
	"testing"
	"time"
)

func TestMatchAllocs(t *testing.T) {
	tab, reqs := genTable(t, 10000)
	for _, r := range reqs[:64] {
		if n := testing.AllocsPerRun(100, func() { tab.Match(r.req, r.buf) }); n != 0 {
			t.Fatalf("Match(%q) allocates %.1f times", r.buf, n)
		}
	}
	globs := mustCompile(t, matchRoutes, CompileOptions{})
	long := strings.Repeat("Label.", 30) + "EXAMPLE.COM" // > 64 bytes, upper case
	for _, host := range []string{"api-eu.example.com", "shop.fr.example.net", "X.EU.EXAMPLE.COM", "nothing.org", long} {
		req, buf := request("GET", host, "/x/1")
		if n := testing.AllocsPerRun(100, func() { globs.Match(req, buf) }); n != 0 {
			t.Fatalf("Match(%s) allocates %.1f times", host, n)
		}
	}
	miss, buf := request("DELETE", "nowhere.example", "/x")
	if n := testing.AllocsPerRun(100, func() { tab.Match(miss, buf) }); n != 0 {
		t.Fatalf("a missed Match allocates %.1f times", n)
	}
}

func TestPickAllocs(t *testing.T) {
	in := pickInput()
	for name, c := range pickSetup(t) {
		if n := testing.AllocsPerRun(100, func() {
			u, _ := c.Pick(in)
			u.Acquire()
			u.Release()
			c.Report(u, true, time.Millisecond)
		}); n != 0 {
			t.Fatalf("%s: Pick/Acquire/Release/Report allocate %.1f times", name, n)
		}
		if n := testing.AllocsPerRun(100, func() { c.NeedsTracking(in.Req, in.Buf) }); n != 0 {
			t.Fatalf("%s: NeedsTracking allocates %.1f times", name, n)
		}
		if n := testing.AllocsPerRun(100, func() { c.Pick(nil) }); n != 0 {
			t.Fatalf("%s: Pick(nil) allocates %.1f times", name, n)
		}
	}
}

func TestRewritePathAllocs(t *testing.T) {
	tab := mustCompile(t, `[{"id":"r","frontend":{"domains":["h.com/api"]},"backend":{"root":"/v2","targets":[{"hostname":"127.0.0.1","port":1}]}}]`, CompileOptions{})
	c := tab.Route("r")
	path := []byte("/api/users/42")
	dst := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { dst = c.RewritePath(dst[:0], path) }); n != 0 {
		t.Fatalf("RewritePath allocates %.1f times", n)
	}
}
