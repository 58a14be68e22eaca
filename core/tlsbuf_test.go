package core_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// TestTLSLoopBufferShrinks: a burst of pipelined uploads makes a loop decrypt far more than one
// request's worth at once, growing its shared plaintext buffer; once the burst is served the
// loop does not keep that buffer (it would otherwise stay for the life of the process, up to the
// engine's maxWaiting per loop).
func TestTLSLoopBufferShrinks(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "-0") {
			time.Sleep(300 * time.Millisecond) // a burst piles up behind its first upload
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s n=%d", r.URL.Path, n)
	}))
	srv := startProxy(t, core.Config{Loops: 1, HighWater: 4 << 10}, quickRoute(t, be))
	addr := startTLSLoop(t, srv)
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	const n, size = 64, 16 << 10
	body := strings.Repeat("b", size)
	br := bufio.NewReader(c)
	for round := range 3 { // a burst does not always arrive in one piece: three chances
		var burst strings.Builder
		for i := range n {
			fmt.Fprintf(&burst, "POST /u%d-%d HTTP/1.1\r\nHost: bench.test\r\nContent-Length: %d\r\n\r\n%s", round, i, size, body)
		}
		go func() { _, _ = io.WriteString(c, burst.String()) }()
		for i := range n {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("round %d, response %d: %v", round, i, err)
			}
			b, _ := io.ReadAll(resp.Body)
			if want := fmt.Sprintf("/u%d-%d n=%d", round, i, size); string(b) != want {
				t.Fatalf("response %d: %q, want %q", i, b, want)
			}
		}
	}
	for _, c := range srv.TLSBufCapsForTest() {
		if c > 64<<10 {
			t.Fatalf("a loop keeps a %d KiB TLS plaintext buffer after the burst", c>>10)
		}
	}
}
