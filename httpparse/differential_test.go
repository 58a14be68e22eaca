package httpparse

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// TestDifferentialAgree runs hand-picked heads through both this parser and
// net/http: both must accept them and agree on every field.
func TestDifferentialAgree(t *testing.T) {
	f := func(in string) {
		t.Helper()
		if !compareNetHTTP(t, []byte(in)) {
			t.Errorf("%q: not accepted by both parsers", in)
		}
	}
	for _, s := range []string{browserRequest, curlRequest, chunkedHead} {
		f(s)
	}
	f("GET http://a.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n")
	f("GET http://[::1]:80/x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")
	f("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n")
	f("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
	f("GET / HTTP/1.0\r\n\r\n")
	f("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	f("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
	f("GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n")
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n")
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n")
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n")
	f("GET / HTTP/1.1\r\nHost: a\r\nX:\r\nY:  \t v \t w\t \r\nZ: \x80\xff\r\n\r\n")
	f("GET / HTTP/1.1\r\nHost: a\r\nx-dup: 1\r\nX-Dup: 2\r\nX-DUP: 3\r\n\r\n")
	f("GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n")
	f("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	f("PROPFIND /{a}|^ HTTP/1.1\r\nHost: a\r\n\r\n")
	f("GET / HTTP/1.1\r\nHost:\r\n\r\n")
}

// TestDifferentialStricter lists heads net/http accepts and this parser
// rejects on purpose, with the rule that makes the difference. If net/http
// starts rejecting one, or this parser starts accepting it, the list is stale.
func TestDifferentialStricter(t *testing.T) {
	f := func(reason, in string, want *Error) {
		t.Helper()
		var arr [64]Header
		req := Request{Headers: arr[:0]}
		if _, err := ParseRequest([]byte(in), &req, nil); err != want {
			t.Errorf("%s: %q: got %v, want %v", reason, in, err, want)
		}
		if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader([]byte(in)))); err != nil {
			t.Errorf("%s: %q: net/http rejects it too (%v): drop the case", reason, in, err)
		}
	}
	f("bare LF ends lines (RFC 9112 §2.2; smuggling)", "GET / HTTP/1.1\nHost: a\n\n", ErrBareLF)
	f("bare LF ends a field line", "GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", ErrBareLF)
	f("obs-fold (RFC 9112 §5.2)", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", ErrObsFold)
	f("HTTP/1.2 is not a version we speak (505)", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", ErrVersionNotSupported)
	f("a fragment is never sent (RFC 9110 §4.2.5)", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget)
	f("non-ASCII in the request-target (RFC 3986)", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget)
	f("asterisk-form is OPTIONS only (RFC 9112 §3.2.4)", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget)
	f("CONNECT takes authority-form only (RFC 9112 §3.2.3)", "CONNECT /rpc HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget)
	f("userinfo in an absolute-form target (RFC 9110 §4.2.4)", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget)
	f("Host bytes outside RFC 3986", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", ErrBadHost)
	f("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ErrBadHost)
	f("Transfer-Encoding on HTTP/1.0 (RFC 9112 §6.1)", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEOnHTTP10)
	f("Connection options must be tokens (RFC 9110 §7.6.1)", "GET / HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n", ErrBadConnection)
}

// TestDifferentialResponseAgree runs hand-picked response heads through both
// parsers: both must accept them and agree.
func TestDifferentialResponseAgree(t *testing.T) {
	f := func(in string) {
		t.Helper()
		if !compareNetHTTPResponse(t, []byte(in)) {
			t.Errorf("%q: not accepted by both parsers", in)
		}
	}
	f(responseHead)
	f("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
	f("HTTP/1.1 200 OK\r\n\r\n")
	f("HTTP/1.1 200\r\n\r\n")
	f("HTTP/1.1 204 No Content\r\n\r\n")
	f("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
	f("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n")
	f("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n")
	f("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n")
	f("HTTP/1.1 500 Internal Server Error\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n")
}
