package wire

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestNext(t *testing.T) {
	type want struct {
		status    int
		keepAlive bool
		bodyLen   int64
	}
	f := func(name, in string, head bool, wants ...want) {
		t.Helper()
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			rd := NewReader(r, 0)
			for i, w := range wants {
				var resp Response
				if err := rd.Next(&resp, head); err != nil {
					t.Fatalf("%s (oneByte=%v) response %d: %v", name, oneByte, i, err)
				}
				if got := (want{resp.Status, resp.KeepAlive, resp.BodyLen}); got != w {
					t.Fatalf("%s (oneByte=%v) response %d: got %+v, want %+v", name, oneByte, i, got, w)
				}
			}
			var resp Response
			if err := rd.Next(&resp, head); err != io.EOF {
				t.Fatalf("%s (oneByte=%v): after the last response err = %v, want io.EOF", name, oneByte, err)
			}
		}
	}
	f("content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, want{200, true, 5})
	f("pipelined", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
		false, want{200, true, 2}, want{404, true, 0})
	f("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n",
		false, want{200, true, 31})
	f("connection close", "HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", false, want{500, false, 1})
	f("until close", "HTTP/1.1 200 OK\r\n\r\nabcdef", false, want{200, false, 6})
	f("http/1.0 default close", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, want{200, false, 0})
	f("http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", false, want{200, true, 0})
	f("interim 100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", false, want{201, true, 0})
	f("head", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, want{200, true, 0})
	f("204", "HTTP/1.1 204 No Content\r\n\r\n", false, want{204, true, 0})
	f("no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, want{200, true, 0})
	big := strings.Repeat("x", 100_000)
	f("body larger than buffer", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+big, false, want{200, true, 100_000})
}

func TestNextErrors(t *testing.T) {
	f := func(name, in string, wantErr error) {
		t.Helper()
		rd := NewReader(strings.NewReader(in), 0)
		var resp Response
		if err := rd.Next(&resp, false); !errors.Is(err, wantErr) {
			t.Fatalf("%s: err = %v, want %v", name, err, wantErr)
		}
	}
	f("not http", "SSH-2.0-OpenSSH\r\n\r\n", ErrMalformed)
	f("chunked in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrMalformed)
	f("bare LF in status line", "HTTP/1.0 200 \n\r\n\r\n", ErrMalformed)
	f("bare CR in header", "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", ErrMalformed)
	f("NUL in header", "HTTP/1.1 200 OK\r\nA: b\x00\r\n\r\n", ErrMalformed)
	f("bad status", "HTTP/1.1 2x0 OK\r\n\r\n", ErrMalformed)
	f("status too low", "HTTP/1.1 099 OK\r\n\r\n", ErrMalformed)
	f("http/2 line", "HTTP/2.0 200 OK\r\n\r\n", ErrMalformed)
	f("no space after code", "HTTP/1.1 200OK\r\n\r\n", ErrMalformed)
	f("obs-fold", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", ErrMalformed)
	f("no colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", ErrMalformed)
	f("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", ErrMalformed)
	f("conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", ErrMalformed)
	f("bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ErrMalformed)
	f("length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrMalformed)
	f("gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ErrUnsupported)
	f("bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ErrMalformed)
	f("no crlf after chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", ErrMalformed)
	f("truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", io.ErrUnexpectedEOF)
	f("truncated head", "HTTP/1.1 200 OK\r\nContent-Le", io.ErrUnexpectedEOF)
	f("head too large", "HTTP/1.1 200 OK\r\nX: "+strings.Repeat("a", 5000)+"\r\n\r\n", ErrHeadTooLarge)
	f("endless chunk line", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+strings.Repeat("1", 2000), ErrMalformed)
}
