package core_test

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core"
)

// Request bodies that arrive with their head (sent along with it in one
// write to the backend, up to 16 KiB) and those that do not all reach the
// backend intact, pipelined requests behind them included.
func TestRequestBodyWithHead(t *testing.T) {
	echo := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.URL.Path+":"+strconv.Itoa(len(b))+":"+string(b[:min(len(b), 8)]))
	}))
	srv := startProxy(t, core.Config{Loops: 1}, testRoute("body.test", echo))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	post := func(path string, size int) string {
		body := strings.Repeat(string(rune('a'+size%26)), size)
		return "POST " + path + " HTTP/1.1\r\nHost: body.test\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n" + body
	}
	want := func(path string, size int) string {
		return path + ":" + strconv.Itoa(size) + ":" + strings.Repeat(string(rune('a'+size%26)), min(size, 8))
	}
	f := func(sizes ...int) {
		t.Helper()
		var all strings.Builder
		for i, n := range sizes {
			all.WriteString(post("/"+strconv.Itoa(i), n))
		}
		if _, err := io.WriteString(c, all.String()); err != nil {
			t.Fatal(err)
		}
		for i, n := range sizes {
			resp, got := readResponse(t, br, "POST")
			if resp.StatusCode != 200 || got != want("/"+strconv.Itoa(i), n) {
				t.Fatalf("sizes %v, request %d: status %d, body %q, want %q", sizes, i, resp.StatusCode, got, want("/"+strconv.Itoa(i), n))
			}
		}
	}
	f(1)
	f(1024)
	f(16 << 10)       // the largest body sent with its head
	f(16<<10 + 1)     // forwarded after it
	f(5, 0, 1024, 7)  // pipelined: each body ends where the next head starts
	f(64<<10, 3, 300) // a large body, then small ones
}
