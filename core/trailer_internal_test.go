package core

import (
	"bytes"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/httpparse"
)

func TestFilterTrailer(t *testing.T) {
	f := func(in, want string, keepUnderscores bool) {
		t.Helper()
		elem := []byte(in)
		n := filterTrailer(elem, keepUnderscores)
		if string(elem[:n]) != want {
			t.Errorf("filterTrailer(%q) = %q, want %q", in, elem[:n], want)
		}
	}
	f("\r\n", "\r\n", false)
	f("", "", false)
	f("X-A: 1\r\n\r\n", "X-A: 1\r\n\r\n", false)
	f("Host: x\r\nX-A: 1\r\nCONTENT-LENGTH: 3\r\nx-b:2\r\n\r\n", "X-A: 1\r\nx-b:2\r\n\r\n", false)
	f("Otoroshi-Client-Secret: s\r\notoroshi-x: 1\r\n\r\n", "\r\n", false)
	f("X_A: 1\r\nX-B: 2\r\n\r\n", "X-B: 2\r\n\r\n", false)
	f("X_A: 1\r\nX-B: 2\r\n\r\n", "X_A: 1\r\nX-B: 2\r\n\r\n", true)
	long := "X-" + strings.Repeat("a", 40)
	f(long+": 1\r\nAuthorization: b\r\n\r\n", long+": 1\r\n\r\n", false)
}

// The pump's chunked copy filters trailers like the loop does, and keeps
// the bytes past the body for the next request.
func TestPumpChunkedFiltersTrailer(t *testing.T) {
	const body = "5\r\nhello\r\n0\r\nX-A: 1\r\nSet-Cookie: s=1\r\nX_B: 2\r\n\r\n"
	const next = "GET /next HTTP/1.1\r\n"
	f := func(keepUnderscores bool, want string) {
		t.Helper()
		var dec httpparse.ChunkedDecoder
		var out bytes.Buffer
		rest, moved, err := pumpChunked(&out, strings.NewReader(body[12:]+next), []byte(body[:12]), &dec, false, keepUnderscores, nil)
		if err != nil {
			t.Fatal(err)
		}
		if moved != int64(len(body)) {
			t.Errorf("pumped %d body bytes, want %d", moved, len(body))
		}
		if out.String() != want || string(rest) != next {
			t.Errorf("pumped %q, rest %q; want %q, %q", out.String(), rest, want, next)
		}
	}
	f(false, "5\r\nhello\r\n0\r\nX-A: 1\r\n\r\n")
	f(true, "5\r\nhello\r\n0\r\nX-A: 1\r\nX_B: 2\r\n\r\n")
}
