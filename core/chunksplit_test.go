package core_test

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// A chunk-size line split across two backend reads is kept whole: the
// partial line once went to gnet's Discard(0), which drops everything
// buffered, and the body came out corrupted.
func TestChunkSizeLineSplitAcrossReads(t *testing.T) {
	be := startRawBackend(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1")
		time.Sleep(100 * time.Millisecond) // the proxy reads the partial size line "1" alone
		_, _ = io.WriteString(c, "0\r\nabcdefghijklmnop\r\n0\r\n\r\n")
		_, _ = c.Read(buf)
	})
	srv := startProxy(t, core.Config{Loops: 1}, quickRoute(t, be))
	resp, err := http.Get("http://" + srv.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(b) != "helloabcdefghijklmnop" {
		t.Fatalf("body %q, err %v", b, err)
	}
}
