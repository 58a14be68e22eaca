package route

import (
	"testing"

	"github.com/torii-gateway/torii/httpparse"
)

// TestMatchParsedRequests routes requests parsed by httpparse, the way the engine does.
func TestMatchParsedRequests(t *testing.T) {
	tab := mustCompile(t, matchRoutes, CompileOptions{})
	f := func(raw, want string) {
		t.Helper()
		var arr [16]httpparse.Header
		req := httpparse.Request{Headers: arr[:0]}
		buf := []byte(raw)
		if _, err := httpparse.ParseRequest(buf, &req, nil); err != nil {
			t.Fatalf("cannot parse %q: %s", raw, err)
		}
		got := "<nil>"
		if c := tab.Match(&req, buf); c != nil {
			got = c.ID
		}
		if got != want {
			t.Fatalf("%q: matched %s, want %s", raw, got, want)
		}
		if n := testing.AllocsPerRun(10, func() { tab.Match(&req, buf) }); n != 0 && !raceEnabled {
			t.Fatalf("%q: Match allocates %.0f times", raw, n)
		}
	}
	f("GET /users/1?x=1 HTTP/1.1\r\nHost: API.example.com:443\r\n\r\n", "users")
	f("GET http://a.example.com/x HTTP/1.1\r\nHost: ignored.org\r\n\r\n", "wild")
	f("POST /items HTTP/1.1\r\nHost: m.example.org\r\nContent-Length: 0\r\n\r\n", "post-only")
	f("GET /h?v=2 HTTP/1.1\r\nHost: m.example.org\r\n\r\n", "qry")
	f("GET /h HTTP/1.1\r\nHost: m.example.org\r\nX-Tenant: acme\r\n\r\n", "hdr")
	f("GET /fallback HTTP/1.0\r\n\r\n", "catch-all")
}
