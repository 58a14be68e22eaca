//go:build !race

package wire

import (
	"bytes"
	"testing"
)

func TestNextDoesNotAllocate(t *testing.T) {
	one := "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
	rd := NewReader(&loopReader{data: bytes.Repeat([]byte(one), 10)}, 0)
	var resp Response
	n := testing.AllocsPerRun(1000, func() {
		if err := rd.Next(&resp, false); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("Next allocates %v times per response", n)
	}
}
