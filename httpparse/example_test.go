package httpparse_test

import (
	"fmt"

	"github.com/torii-gateway/torii/httpparse"
)

func ExampleParseRequest() {
	buf := []byte("POST /orders?id=7 HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 2\r\n\r\n{}")
	var arr [32]httpparse.Header
	req := httpparse.Request{Headers: arr[:0]}
	n, err := httpparse.ParseRequest(buf, &req, nil)
	if err != nil {
		fmt.Println("answer", httpparse.StatusOf(err))
		return
	}
	fmt.Printf("%s %s host=%s body=%q\n", req.Method.Bytes(buf), req.Path.Bytes(buf), req.Host.Bytes(buf), buf[n:n+int(req.ContentLength)])
	// Output: POST /orders host=shop.example body="{}"
}

func ExampleChunkedDecoder() {
	body := []byte("4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nChecksum: 1\r\n\r\n")
	var d httpparse.ChunkedDecoder
	var out []byte
	for rest := body; ; {
		n, data, done, err := d.Decode(rest)
		if err != nil { // ErrNeedMore included: the whole body is here
			fmt.Println(err)
			return
		}
		out = append(out, data.Bytes(rest)...)
		if done {
			fmt.Printf("%s, trailer %q\n", out, d.Trailer().Bytes(rest))
			return
		}
		rest = rest[n:]
	}
	// Output: Wikipedia, trailer "Checksum: 1\r\n"
}
