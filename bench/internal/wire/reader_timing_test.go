package wire

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

const benchResponse = "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Fri, 27 Nov 2026 09:00:00 GMT\r\n" +
	"Content-Type: text/plain\r\nContent-Length: 32\r\nConnection: keep-alive\r\n\r\n" +
	"abcdefghijklmnopqrstuvwxyzabcde\n"

func BenchmarkNext(b *testing.B) {
	rd := NewReader(&loopReader{data: bytes.Repeat([]byte(benchResponse), 64)}, 0)
	var resp Response
	b.SetBytes(int64(len(benchResponse)))
	b.ReportAllocs()
	for b.Loop() {
		if err := rd.Next(&resp, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNetHTTPReadResponse is the standard-library baseline.
func BenchmarkNetHTTPReadResponse(b *testing.B) {
	br := bufio.NewReader(&loopReader{data: bytes.Repeat([]byte(benchResponse), 64)})
	b.SetBytes(int64(len(benchResponse)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
