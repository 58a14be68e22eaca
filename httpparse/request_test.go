package httpparse

import (
	"errors"
	"strings"
	"testing"
)

// parseReq parses s with room for 64 headers.
func parseReq(s string, lim *Limits) (*Request, []byte, int, error) {
	var arr [64]Header
	req := &Request{Headers: arr[:0]}
	buf := []byte(s)
	n, err := ParseRequest(buf, req, lim)
	return req, buf, n, err
}

func TestParseRequestBasic(t *testing.T) {
	const in = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\nAccept:*/*\r\n\r\nBODY"
	req, buf, n, err := parseReq(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(in)-len("BODY") || req.HeadLen != n {
		t.Fatalf("consumed %d, HeadLen %d, want %d", n, req.HeadLen, len(in)-4)
	}
	check := func(what string, s Span, want string) {
		t.Helper()
		if got := string(s.Bytes(buf)); got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("method", req.Method, "GET")
	check("target", req.Target, "/a/b?x=1&y=2")
	check("path", req.Path, "/a/b")
	check("query", req.Query, "x=1&y=2")
	check("host", req.Host, "example.com")
	if req.MethodKind != MethodGet || req.Version != HTTP11 || req.Form != FormOrigin {
		t.Errorf("kind %d version %d form %d", req.MethodKind, req.Version, req.Form)
	}
	if !req.KeepAlive || req.Framing != FramingNone || req.Upgrade || req.Expect100 {
		t.Errorf("keepalive %v framing %d upgrade %v expect %v", req.KeepAlive, req.Framing, req.Upgrade, req.Expect100)
	}
	if len(req.Headers) != 3 {
		t.Fatalf("%d headers", len(req.Headers))
	}
	check("name 2", req.Headers[2].Name, "Accept")
	check("value 2", req.Headers[2].Value, "*/*")
	ua, ok := req.Lookup(buf, "user-agent")
	if !ok {
		t.Fatal("no user-agent")
	}
	check("lookup", ua, "curl/8.0")
	if _, ok := req.Lookup(buf, "cookie"); ok {
		t.Error("found a missing header")
	}
}

// TestParseRequestRejects checks every rejection rule; each case names the
// section of RFC 9112 or RFC 9110 it checks.
func TestParseRequestRejects(t *testing.T) {
	f := func(rfc, in string, want *Error) {
		t.Helper()
		_, _, _, err := parseReq(in, nil)
		if err != want {
			t.Errorf("%s: %q: got %v, want %v", rfc, in, err, want)
			return
		}
		if StatusOf(err) != want.Status {
			t.Errorf("%s: StatusOf = %d, want %d", rfc, StatusOf(err), want.Status)
		}
	}
	const h = "Host: a\r\n"
	// Request line (RFC 9112 §3).
	f("9112 §3", "GET  / HTTP/1.1\r\n"+h+"\r\n", ErrBadRequestLine)
	f("9112 §3", "GET /  HTTP/1.1\r\n"+h+"\r\n", ErrBadRequestLine)
	f("9112 §3", " GET / HTTP/1.1\r\n"+h+"\r\n", ErrBadRequestLine)
	f("9112 §3", "GET / HTTP/1.1 \r\n"+h+"\r\n", ErrBadRequestLine)
	f("9112 §3", "GET /\r\n"+h+"\r\n", ErrBadRequestLine)
	f("9112 §2.2", "GET /\n"+h+"\r\n", ErrBareLF)
	f("9112 §2.2", "GET\n"+h+"\r\n", ErrBareLF)
	f("9112 §2.2", "GET / HTTP/1\n"+h+"\r\n", ErrBareLF)
	f("9112 §2.2", "GET / HTTP/1.1\r\n"+h+"X\n\r\n", ErrBareLF)
	f("9112 §3", "GET\r\n"+h+"\r\n", ErrBadRequestLine)
	f("9112 §3", "GET\t/ HTTP/1.1\r\n"+h+"\r\n", ErrBadMethod)
	f("9110 §9.1", "G(T / HTTP/1.1\r\n"+h+"\r\n", ErrBadMethod)
	f("9110 §9.1", "GE\x00T / HTTP/1.1\r\n"+h+"\r\n", ErrBadMethod)
	f("9112 §3.2", "GET /a#frag HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2", "GET /a\x01 HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2", "GET /\x7f HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2", "GET /\xc3\xa9 HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2", "GET a/b HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.4", "GET * HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.4", "OPTIONS *x HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.3", "CONNECT /x HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.3", "CONNECT example.com HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.3", "CONNECT example.com: HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.3", "CONNECT :443 HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.3", "CONNECT a@b:443 HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.2", "GET http:/x HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.2", "GET http:///x HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.2", "GET 1http://a/ HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9110 §4.2.4", "GET http://user@a/ HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.2", "GET http://a:b/ HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	f("9112 §3.2.2", "GET http://[::1/ HTTP/1.1\r\n"+h+"\r\n", ErrBadTarget)
	// Version (RFC 9112 §2.3).
	f("9112 §2.3", "GET / HTTP/2.0\r\n"+h+"\r\n", ErrVersionNotSupported)
	f("9112 §2.3", "GET / HTTP/1.2\r\n"+h+"\r\n", ErrVersionNotSupported)
	f("9112 §2.3", "GET / HTTP/0.9\r\n"+h+"\r\n", ErrVersionNotSupported)
	f("9112 §2.3", "GET / http/1.1\r\n"+h+"\r\n", ErrBadVersion)
	f("9112 §2.3", "GET / HTTP/1.10\r\n"+h+"\r\n", ErrBadVersion)
	f("9112 §2.3", "GET / HTTP/1\r\n"+h+"\r\n", ErrBadVersion)
	f("9112 §2.3", "GET / HTTP/11\r\n"+h+"\r\n", ErrBadVersion)
	// Line endings (RFC 9112 §2.2): bare LF and bare CR everywhere.
	f("9112 §2.2", "GET / HTTP/1.1\n"+h+"\r\n", ErrBareLF)
	f("9112 §2.2", "GET / HTTP/1.1\r\nHost: a\n\r\n", ErrBareLF)
	f("9112 §2.2", "GET / HTTP/1.1\r\n"+h+"\n", ErrBareLF)
	f("9112 §2.2", "GET / HTTP/1.1\r\n"+h+"\r\r\n", ErrBareCR)
	f("9112 §2.2", "GET / HTTP/1.1\r\r\n"+h+"\r\n", ErrBareCR)
	f("9112 §2.2", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", ErrBareCR)
	f("9112 §2.2", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", ErrBareCR)
	f("9112 §2.2", "\nGET / HTTP/1.1\r\n"+h+"\r\n", ErrBareLF)
	f("9112 §2.2", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n"+h+"\r\n", ErrTooManyEmptyLines)
	f("9112 §2.2", "GET / HTTP/1.1\r\nX: 1\n"+h+"\r\n", ErrBareLF)
	// Field lines (RFC 9112 §5, RFC 9110 §5).
	f("9112 §5.2", "GET / HTTP/1.1\r\n"+h+"X: a\r\n b\r\n\r\n", ErrObsFold)
	f("9112 §5.2", "GET / HTTP/1.1\r\n"+h+"X: a\r\n\tb\r\n\r\n", ErrObsFold)
	f("9112 §2.2", "GET / HTTP/1.1\r\n "+h+"\r\n", ErrObsFold)
	f("9112 §5.1", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", ErrSpaceBeforeColon)
	f("9112 §5.1", "GET / HTTP/1.1\r\n"+h+"Content-Length\t: 1\r\n\r\n", ErrSpaceBeforeColon)
	f("9110 §5.1", "GET / HTTP/1.1\r\n"+h+": a\r\n\r\n", ErrBadHeaderName)
	f("9110 §5.1", "GET / HTTP/1.1\r\n"+h+"X(: a\r\n\r\n", ErrBadHeaderName)
	f("9110 §5.1", "GET / HTTP/1.1\r\n"+h+"X\x00Y: a\r\n\r\n", ErrBadHeaderName)
	f("9110 §5.1", "GET / HTTP/1.1\r\n"+h+"NoColon\r\n\r\n", ErrBadHeaderName)
	f("9110 §5.1", "GET / HTTP/1.1\r\n"+h+"\xffX: a\r\n\r\n", ErrBadHeaderName)
	f("9110 §5.5", "GET / HTTP/1.1\r\n"+h+"X: a\x00b\r\n\r\n", ErrBadHeaderValue)
	f("9110 §5.5", "GET / HTTP/1.1\r\n"+h+"X: a\x01b\r\n\r\n", ErrBadHeaderValue)
	f("9110 §5.5", "GET / HTTP/1.1\r\n"+h+"X: a\x7fb\r\n\r\n", ErrBadHeaderValue)
	f("9110 §5.5", "GET / HTTP/1.1\r\n"+h+"X: \x1b[31m\r\n\r\n", ErrBadHeaderValue)
	// Host (RFC 9112 §3.2, RFC 9110 §7.2).
	f("9112 §3.2", "GET / HTTP/1.1\r\n\r\n", ErrMissingHost)
	f("9112 §3.2", "GET http://a/ HTTP/1.1\r\n\r\n", ErrMissingHost)
	f("9112 §3.2", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", ErrDuplicateHost)
	f("9112 §3.2", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", ErrDuplicateHost)
	f("9110 §7.2", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ErrBadHost)
	f("9110 §7.2", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ErrBadHost)
	f("9110 §7.2", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ErrBadHost)
	f("9110 §7.2", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", ErrBadHost)
	f("9110 §7.2", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", ErrBadHost)
	f("9110 §7.2", "GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n", ErrBadHost)
	// Content-Length (RFC 9110 §8.6, RFC 9112 §6.3 point 5).
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: +5\r\n\r\n", ErrBadContentLength)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: -5\r\n\r\n", ErrBadContentLength)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 0x5\r\n\r\n", ErrBadContentLength)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 5a\r\n\r\n", ErrBadContentLength)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length:\r\n\r\n", ErrBadContentLength)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 5 5\r\n\r\n", ErrBadContentLength)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 5,\r\n\r\n", ErrBadContentLength)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 5,,5\r\n\r\n", ErrBadContentLength)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 9223372036854775808\r\n\r\n", ErrBadContentLength)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 99999999999999999999\r\n\r\n", ErrBadContentLength)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 1"+strings.Repeat(",1", maxContentLengthValues)+"\r\n\r\n", ErrBadContentLength)
	f("9112 §6.3", "POST / HTTP/1.1\r\n"+h+"Content-Length: 5, 6\r\n\r\n", ErrConflictingContentLength)
	f("9112 §6.3", "POST / HTTP/1.1\r\n"+h+"Content-Length: 5\r\nContent-Length: 6\r\n\r\n", ErrConflictingContentLength)
	// Transfer-Encoding (RFC 9112 §6.1, §6.3).
	f("9112 §6.3", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", ErrTEWithCL)
	f("9112 §6.3", "POST / HTTP/1.1\r\n"+h+"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEWithCL)
	f("9112 §6.3", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: gzip\r\n\r\n", ErrTENotChunked)
	f("9112 §6.3", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: chunked, gzip\r\n\r\n", ErrTENotChunked)
	f("9112 §6.3", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", ErrTENotChunked)
	f("9112 §6.3", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: xchunked\r\n\r\n", ErrTENotChunked)
	f("9112 §6.1", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: gzip, chunked\r\n\r\n", ErrUnsupportedTE)
	f("9112 §6.1", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: foo;q=1, chunked\r\n\r\n", ErrUnsupportedTE)
	f("9112 §6.1", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: chunked, chunked\r\n\r\n", ErrBadTransferEncoding)
	f("9112 §6.1", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrBadTransferEncoding)
	f("9112 §6.1", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: chunked;x=1\r\n\r\n", ErrBadTransferEncoding)
	f("9112 §6.1", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: ,chunked\r\n\r\n", ErrBadTransferEncoding)
	f("9112 §6.1", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding:\r\n\r\n", ErrBadTransferEncoding)
	f("9112 §6.1", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: \"chunked\"\r\n\r\n", ErrBadTransferEncoding)
	f("9112 §6.1", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: chunked\x0b\r\n\r\n", ErrBadHeaderValue)
	f("9112 §6.1", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEOnHTTP10)
	// Connection (RFC 9110 §7.6.1).
	f("9110 §7.6.1", "GET / HTTP/1.1\r\n"+h+"Connection: close;x\r\n\r\n", ErrBadConnection)
	f("9110 §7.6.1", "GET / HTTP/1.1\r\n"+h+"Connection: a b\r\n\r\n", ErrBadConnection)
}

func TestParseRequestForms(t *testing.T) {
	f := func(in string, form TargetForm, path, query, host string) {
		t.Helper()
		req, buf, _, err := parseReq(in, nil)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			return
		}
		if req.Form != form || string(req.Path.Bytes(buf)) != path || string(req.Query.Bytes(buf)) != query || string(req.Host.Bytes(buf)) != host {
			t.Errorf("%q: form %d path %q query %q host %q", in, req.Form, req.Path.Bytes(buf), req.Query.Bytes(buf), req.Host.Bytes(buf))
		}
	}
	// RFC 9112 §3.2.1 origin-form.
	f("GET / HTTP/1.1\r\nHost: h\r\n\r\n", FormOrigin, "/", "", "h")
	f("GET /p?q HTTP/1.1\r\nHost: h\r\n\r\n", FormOrigin, "/p", "q", "h")
	f("GET /p? HTTP/1.1\r\nHost: h\r\n\r\n", FormOrigin, "/p", "", "h")
	f("GET /p?a?b HTTP/1.1\r\nHost: h\r\n\r\n", FormOrigin, "/p", "a?b", "h")
	f("GET /{a}|^`\"<> HTTP/1.1\r\nHost: h\r\n\r\n", FormOrigin, "/{a}|^`\"<>", "", "h")
	// RFC 9112 §3.2.2 absolute-form: Host is the target's authority.
	f("GET http://a.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n", FormAbsolute, "/p", "q", "a.example:8080")
	f("GET HTTPS://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", FormAbsolute, "", "", "a.example")
	f("GET http://a?q HTTP/1.1\r\nHost: a\r\n\r\n", FormAbsolute, "", "q", "a")
	f("GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", FormAbsolute, "/", "", "[::1]:80")
	// RFC 9112 §3.2.3 authority-form.
	f("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", FormAuthority, "", "", "a.example:443")
	f("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", FormAuthority, "", "", "[::1]:443")
	// RFC 9112 §3.2.4 asterisk-form.
	f("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", FormAsterisk, "", "", "h")
	// RFC 9112 §3.2: HTTP/1.0 may omit Host; an empty Host is valid.
	f("GET / HTTP/1.0\r\n\r\n", FormOrigin, "/", "", "")
	f("GET / HTTP/1.1\r\nHost:\r\n\r\n", FormOrigin, "/", "", "")
}

func TestParseRequestSemantics(t *testing.T) {
	f := func(rfc, in string, framing Framing, cl int64, keepAlive, upgrade, expect bool) {
		t.Helper()
		req, _, _, err := parseReq(in, nil)
		if err != nil {
			t.Errorf("%s: %q: %v", rfc, in, err)
			return
		}
		if req.Framing != framing || req.ContentLength != cl || req.KeepAlive != keepAlive || req.Upgrade != upgrade || req.Expect100 != expect {
			t.Errorf("%s: %q: framing %d cl %d keepalive %v upgrade %v expect %v", rfc, in, req.Framing, req.ContentLength, req.KeepAlive, req.Upgrade, req.Expect100)
		}
	}
	const h = "Host: a\r\n"
	f("9112 §6.3 p6", "GET / HTTP/1.1\r\n"+h+"\r\n", FramingNone, 0, true, false, false)
	f("9112 §6.3 p5", "POST / HTTP/1.1\r\n"+h+"Content-Length: 12\r\n\r\n", FramingLength, 12, true, false, false)
	f("9112 §6.3 p5", "POST / HTTP/1.1\r\n"+h+"Content-Length: 0\r\n\r\n", FramingLength, 0, true, false, false)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 007\r\n\r\n", FramingLength, 7, true, false, false)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 5, 5\r\nContent-Length: 5\r\n\r\n", FramingLength, 5, true, false, false)
	f("9110 §8.6", "POST / HTTP/1.1\r\n"+h+"Content-Length: 9223372036854775807\r\n\r\n", FramingLength, 1<<63-1, true, false, false)
	f("9112 §6.3 p4", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: chunked\r\n\r\n", FramingChunked, 0, true, false, false)
	f("9112 §6.3 p4", "POST / HTTP/1.1\r\n"+h+"Transfer-Encoding: CHUNKED \r\n\r\n", FramingChunked, 0, true, false, false)
	f("9112 §9.3", "GET / HTTP/1.1\r\n"+h+"Connection: close\r\n\r\n", FramingNone, 0, false, false, false)
	f("9112 §9.3", "GET / HTTP/1.1\r\n"+h+"Connection: Keep-Alive, CLOSE\r\n\r\n", FramingNone, 0, false, false, false)
	f("9112 §9.3", "GET / HTTP/1.0\r\n\r\n", FramingNone, 0, false, false, false)
	f("9112 §9.3", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", FramingNone, 0, true, false, false)
	f("9112 §9.3", "GET / HTTP/1.0\r\nConnection: ,, keep-alive ,\r\n\r\n", FramingNone, 0, true, false, false)
	f("9110 §7.8", "GET / HTTP/1.1\r\n"+h+"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", FramingNone, 0, true, true, false)
	f("9110 §7.8", "GET / HTTP/1.1\r\n"+h+"Connection: keep-alive\r\nUpgrade: websocket\r\n\r\n", FramingNone, 0, true, false, false)
	f("9110 §7.8", "GET / HTTP/1.1\r\n"+h+"Connection: upgrade\r\n\r\n", FramingNone, 0, true, false, false)
	f("9110 §7.8", "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", FramingNone, 0, false, false, false)
	f("9110 §10.1.1", "PUT / HTTP/1.1\r\n"+h+"Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n", FramingLength, 1, true, false, true)
	f("9110 §10.1.1", "PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", FramingLength, 1, false, false, false)
}

func TestParseRequestHopByHop(t *testing.T) {
	const in = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, upgrade\r\nKeep-Alive: 5\r\nx-secret: 1\r\n" +
		"TE: trailers\r\nTrailer: X\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\nProxy-Connection: x\r\n" +
		"Proxy-Authorization: b\r\nProxy-Authenticate: c\r\nX-Other: 2\r\nX-SECRET: 3\r\n\r\n"
	req, buf, _, err := parseReq(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]HeaderFlags{
		"Host": 0, "Connection": FlagHopByHop, "Keep-Alive": FlagHopByHop, "x-secret": FlagHopByHop,
		"TE": FlagHopByHop, "Trailer": FlagHopByHop, "Transfer-Encoding": FlagHopByHop | FlagFraming,
		"Upgrade": FlagHopByHop, "Proxy-Connection": FlagHopByHop, "Proxy-Authorization": FlagHopByHop,
		"Proxy-Authenticate": FlagHopByHop, "X-Other": 0, "X-SECRET": FlagHopByHop,
	}
	if len(req.Headers) != len(want) {
		t.Fatalf("%d headers, want %d", len(req.Headers), len(want))
	}
	for _, h := range req.Headers {
		name := string(h.Name.Bytes(buf))
		if h.Flags != want[name] {
			t.Errorf("%s: flags %b, want %b", name, h.Flags, want[name])
		}
	}
	req, buf, _, err = parseReq("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", nil)
	if err != nil || req.Headers[1].Flags != FlagFraming {
		t.Fatalf("Content-Length flags %b, %v (%q)", req.Headers[1].Flags, err, buf)
	}
}

func TestParseRequestLimits(t *testing.T) {
	lim := &Limits{MaxRequestLine: 64, MaxHeaderBytes: 128}
	f := func(in string, want error) {
		t.Helper()
		_, _, _, err := parseReq(in, lim)
		if !errors.Is(err, want) {
			t.Errorf("%.40q...(%d bytes): got %v, want %v", in, len(in), err, want)
		}
	}
	line := func(n int) string { // a request line of exactly n bytes
		return "GET /" + strings.Repeat("a", n-len("GET / HTTP/1.1")) + " HTTP/1.1"
	}
	f(line(64)+"\r\nHost: a\r\n\r\n", nil)
	f(line(65)+"\r\nHost: a\r\n\r\n", ErrRequestLineTooLong)
	// Incomplete but already too long: rejected at once, not after waiting.
	f(line(64), ErrNeedMore)
	f(line(64)+"\r", ErrNeedMore)
	f("GET /"+strings.Repeat("a", 70), ErrRequestLineTooLong)
	f(strings.Repeat("A", 67), ErrRequestLineTooLong)
	// A header section of exactly 128 bytes, with its final CRLF.
	field := "X: " + strings.Repeat("v", 128-len("Host: a\r\n")-len("X: \r\n")-2) + "\r\n"
	f("GET / HTTP/1.1\r\nHost: a\r\n"+field+"\r\n", nil)
	f("GET / HTTP/1.1\r\nHost: a\r\nY"+field+"\r\n", ErrHeaderTooLarge)
	f("GET / HTTP/1.1\r\nHost: a\r\n"+field, ErrNeedMore)
	f("GET / HTTP/1.1\r\nHost: a\r\n"+field+"\r", ErrNeedMore)
	f("GET / HTTP/1.1\r\nHost: a\r\n"+field+"Y", ErrNeedMore)
	f("GET / HTTP/1.1\r\nHost: a\r\n"+field+"YY", ErrHeaderTooLarge)
	f("GET / HTTP/1.1\r\nHost: a\r\n"+strings.Repeat("X: v\r\n", 40), ErrHeaderTooLarge)

	// Header count: exactly the capacity is fine, one more is 431.
	var arr [2]Header
	req := &Request{Headers: arr[:0]}
	if _, err := ParseRequest([]byte("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n"), req, nil); err != nil {
		t.Fatal(err)
	}
	req.Headers = arr[:0]
	if _, err := ParseRequest([]byte("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n"), req, nil); err != ErrTooManyHeaders || StatusOf(err) != 431 {
		t.Fatalf("got %v, want ErrTooManyHeaders", err)
	}
	req.Headers = nil
	if _, err := ParseRequest([]byte("GET / HTTP/1.0\r\n\r\n"), req, nil); err != nil {
		t.Fatalf("no headers, no capacity: %v", err)
	}
}

// TestParseRequestIncremental feeds every prefix of valid heads: each must
// say ErrNeedMore, and the whole head must parse to the same result.
func TestParseRequestIncremental(t *testing.T) {
	for _, in := range []string{
		"GET /index.html?a=b HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Empty:\r\nX-Sp:   v  \t\r\n\r\n",
		"\r\n\r\nPOST http://a:1/x HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive, x\r\nx: 1\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
	} {
		for k := 0; k < len(in); k++ {
			if _, _, n, err := parseReq(in[:k], nil); err != ErrNeedMore {
				t.Fatalf("%q: got (%d, %v), want ErrNeedMore", in[:k], n, err)
			}
		}
		if _, _, n, err := parseReq(in, nil); err != nil || n != len(in) {
			t.Fatalf("%q: got (%d, %v)", in, n, err)
		}
	}
}

func TestMethodKinds(t *testing.T) {
	for m, want := range map[string]Method{
		"GET": MethodGet, "HEAD": MethodHead, "POST": MethodPost, "PUT": MethodPut, "DELETE": MethodDelete,
		"OPTIONS": MethodOptions, "TRACE": MethodTrace, "PATCH": MethodPatch, "get": MethodOther, "PROPFIND": MethodOther,
	} {
		req, _, _, err := parseReq(m+" / HTTP/1.1\r\nHost: a\r\n\r\n", nil)
		if err != nil || req.MethodKind != want {
			t.Errorf("%s: kind %d, %v", m, req.MethodKind, err)
		}
	}
}

func TestStatusOf(t *testing.T) {
	f := func(err error, want int) {
		t.Helper()
		if got := StatusOf(err); got != want {
			t.Errorf("StatusOf(%v) = %d, want %d", err, got, want)
		}
	}
	f(nil, 0)
	f(ErrNeedMore, 0)
	f(ErrRequestLineTooLong, 414)
	f(ErrHeaderTooLarge, 431)
	f(ErrVersionNotSupported, 505)
	f(ErrUnsupportedTE, 501)
	f(errors.New("other"), 400)
	f(errorsJoin(ErrTooManyHeaders), 431)
	if ErrBareLF.Error() != "httpparse: bare LF line ending" {
		t.Errorf("message %q", ErrBareLF.Error())
	}
}

func errorsJoin(err error) error { return errors.Join(errors.New("ctx"), err) }

func TestEqualFold(t *testing.T) {
	f := func(b, s string, want bool) {
		t.Helper()
		if EqualFold([]byte(b), s) != want {
			t.Errorf("EqualFold(%q, %q) != %v", b, s, want)
		}
	}
	f("Content-Length", "content-length", true)
	f("CONTENT-LENGTH", "content-length", true)
	f("content-lengt", "content-length", false)
	f("Content_Length", "content-length", false)
	f("", "", true)
	f("[", "{", false) // '[' | 0x20 == '{': folding must be for letters only
	f("@", "`", false)
}

func TestDefaultLimits(t *testing.T) {
	line := func(n int) string {
		return "GET /" + strings.Repeat("a", n-len("GET / HTTP/1.1")) + " HTTP/1.1\r\n"
	}
	f := func(name, in string, lim *Limits, want error) {
		t.Helper()
		if _, _, _, err := parseReq(in, lim); err != want {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
	}
	// nil and zero Limits mean the defaults: 8 KiB request line, 32 KiB header section.
	for _, lim := range []*Limits{nil, {}, {MaxRequestLine: -1, MaxHeaderBytes: -1}} {
		f("line at limit", line(DefaultMaxRequestLine)+"Host: a\r\n\r\n", lim, nil)
		f("line over limit", line(DefaultMaxRequestLine+1)+"Host: a\r\n\r\n", lim, ErrRequestLineTooLong)
		section := "Host: a\r\nX: " + strings.Repeat("v", DefaultMaxHeaderBytes-len("Host: a\r\nX: \r\n\r\n")) + "\r\n\r\n"
		f("section at limit", "GET / HTTP/1.1\r\n"+section, lim, nil)
		f("section over limit", "GET / HTTP/1.1\r\nY"+section, lim, ErrHeaderTooLarge)
	}
	// Larger configured limits are honoured, and clamped to maxLimit.
	big := &Limits{MaxRequestLine: 64 << 10, MaxHeaderBytes: 1 << 30}
	f("configured line", line(40<<10)+"Host: a\r\n\r\n", big, nil)
	if l, h := big.values(); l != 64<<10 || h != maxLimit {
		t.Errorf("values() = %d, %d", l, h)
	}
}

// TestParseRequestBoundedWork checks that a huge buffer is not scanned past
// the limits: garbage far beyond them must not change the verdict.
func TestParseRequestBoundedWork(t *testing.T) {
	lim := &Limits{MaxRequestLine: 32, MaxHeaderBytes: 64}
	f := func(in string, want error) {
		t.Helper()
		if _, _, _, err := parseReq(in+strings.Repeat("\x00", 1<<20), lim); err != want {
			t.Errorf("%q + 1 MiB of NUL: got %v, want %v", in, err, want)
		}
	}
	f("GET /"+strings.Repeat("a", 40), ErrRequestLineTooLong)
	f("GET / HTTP/1.1\r\nX: "+strings.Repeat("a", 80), ErrHeaderTooLarge)
	f("GET / HTTP/1.1\r\nHost: a\r\n\r\n", nil)
}

// TestParseRequestPipelined parses requests sent back to back in one buffer,
// as a keep-alive client may (RFC 9112 §9.3.2): each parse starts where the
// previous head and body ended.
func TestParseRequestPipelined(t *testing.T) {
	buf := []byte("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" +
		"\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	var arr [8]Header
	var paths []string
	for off := 0; off < len(buf); {
		req := Request{Headers: arr[:0]}
		n, err := ParseRequest(buf[off:], &req, nil)
		if err != nil {
			t.Fatalf("at %d: %v", off, err)
		}
		paths = append(paths, string(req.Path.Bytes(buf[off:])))
		off += n + int(req.ContentLength)
	}
	if strings.Join(paths, " ") != "/1 /2 /3" {
		t.Fatalf("paths %v", paths)
	}
}
