package wire

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// FuzzNext feeds arbitrary bytes to the reader: it must not panic or loop,
// and where net/http also accepts the first response, both must agree on
// the status and the body length.
func FuzzNext(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\n\r\nbody until close",
		"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nT: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := NewReader(bytes.NewReader(in), 0)
		var resp Response
		err := rd.Next(&resp, false)
		if err != nil {
			return
		}
		hr, herr := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), nil)
		if herr != nil || hr.StatusCode < 200 {
			return
		}
		n, berr := io.Copy(io.Discard, hr.Body)
		hr.Body.Close()
		if berr != nil {
			return
		}
		if hr.StatusCode != resp.Status {
			t.Fatalf("status: ours %d, net/http %d for %q", resp.Status, hr.StatusCode, in)
		}
		if n != resp.BodyLen && resp.Status != 204 && resp.Status != 304 {
			t.Fatalf("body length: ours %d, net/http %d for %q", resp.BodyLen, n, in)
		}
	})
}
