package httpparse

import (
	"strings"
	"testing"
)

func parseResp(s string) (*Response, []byte, int, error) {
	var arr [32]Header
	resp := &Response{Headers: arr[:0]}
	buf := []byte(s)
	n, err := ParseResponse(buf, resp, nil)
	return resp, buf, n, err
}

func TestParseResponseBasic(t *testing.T) {
	const in = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"
	resp, buf, n, err := parseResp(in)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(in)-9 || resp.HeadLen != n {
		t.Fatalf("consumed %d, HeadLen %d", n, resp.HeadLen)
	}
	if resp.Version != HTTP11 || resp.Status != 404 || string(resp.Reason.Bytes(buf)) != "Not Found" {
		t.Errorf("version %d status %d reason %q", resp.Version, resp.Status, resp.Reason.Bytes(buf))
	}
	if resp.ContentLength != 9 || resp.Chunked || !resp.KeepAlive || len(resp.Headers) != 2 {
		t.Errorf("cl %d chunked %v keepalive %v headers %d", resp.ContentLength, resp.Chunked, resp.KeepAlive, len(resp.Headers))
	}
	if v, ok := resp.Lookup(buf, "content-type"); !ok || string(v.Bytes(buf)) != "text/plain" {
		t.Errorf("lookup content-type: %q %v", v.Bytes(buf), ok)
	}
}

func TestParseResponseStatusLine(t *testing.T) {
	f := func(rfc, in string, status int, reason string, want error) {
		t.Helper()
		resp, buf, _, err := parseResp(in)
		if err != want {
			t.Errorf("%s: %q: got %v, want %v", rfc, in, err, want)
			return
		}
		if err == nil && (resp.Status != status || string(resp.Reason.Bytes(buf)) != reason) {
			t.Errorf("%s: %q: status %d reason %q", rfc, in, resp.Status, resp.Reason.Bytes(buf))
		}
	}
	f("9112 §4", "HTTP/1.1 200 OK\r\n\r\n", 200, "OK", nil)
	f("9112 §4", "HTTP/1.0 200 OK\r\n\r\n", 200, "OK", nil)
	f("9112 §4", "HTTP/1.1 200 \r\n\r\n", 200, "", nil)
	f("9112 §4", "HTTP/1.1 200\r\n\r\n", 200, "", nil) // SP missing: accepted, see parseStatusLine
	f("9112 §4", "HTTP/1.1 599 A b\tc \xe9\r\n\r\n", 599, "A b\tc \xe9", nil)
	f("9112 §4", "HTTP/1.1 100 Continue\r\n\r\n", 100, "Continue", nil)
	f("9110 §15", "HTTP/1.1 099 X\r\n\r\n", 0, "", ErrBadStatus)
	f("9110 §15", "HTTP/1.1 600 X\r\n\r\n", 0, "", ErrBadStatus)
	f("9112 §4", "HTTP/1.1 20 OK\r\n\r\n", 0, "", ErrBadStatus)
	f("9112 §4", "HTTP/1.1 2000 OK\r\n\r\n", 0, "", ErrBadStatus)
	f("9112 §4", "HTTP/1.1 +20 OK\r\n\r\n", 0, "", ErrBadStatus)
	f("9112 §4", "HTTP/1.1  200 OK\r\n\r\n", 0, "", ErrBadStatus)
	f("9112 §4", "HTTP/1.1\t200 OK\r\n\r\n", 0, "", ErrBadStatusLine)
	f("9112 §4", "HTTP/1.1 200 O\x00K\r\n\r\n", 0, "", ErrBadHeaderValue)
	f("9112 §2.2", "HTTP/1.1 200 OK\n\r\n", 0, "", ErrBareLF)
	f("9112 §2.2", "HTTP/1.1 200\n\r\n", 0, "", ErrBareLF)
	f("9112 §2.2", "HTTP/1.1\n\r\n", 0, "", ErrBareLF)
	f("9112 §2.2", "HTTP/1.1 20\n\r\n", 0, "", ErrBareLF)
	f("9112 §2.2", "HTTP/1.1 200 OK\rX\r\n\r\n", 0, "", ErrBareCR)
	f("9112 §2.3", "HTTP/2 200 OK\r\n\r\n", 0, "", ErrBadVersion)
	f("9112 §2.3", "HTTP/2.0 200 OK\r\n\r\n", 0, "", ErrVersionNotSupported)
	f("9112 §2.3", "ICY 200 OK\r\n\r\n", 0, "", ErrBadVersion)
	f("9112 §5.2", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 0, "", ErrObsFold)
	f("9112 §5.1", "HTTP/1.1 200 OK\r\nX : a\r\n\r\n", 0, "", ErrSpaceBeforeColon)
	f("9110 §5.5", "HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n", 0, "", ErrBadHeaderValue)
	f("9112 §4", "HTTP/1.1 200 "+strings.Repeat("x", DefaultMaxRequestLine), 0, "", ErrRequestLineTooLong)
}

func TestResponseBodyFraming(t *testing.T) {
	f := func(rfc, in string, method Method, want Framing, keepAlive bool) {
		t.Helper()
		resp, _, _, err := parseResp(in)
		if err != nil {
			t.Errorf("%s: %q: %v", rfc, in, err)
			return
		}
		if got := resp.BodyFraming(method); got != want || resp.KeepAlive != keepAlive {
			t.Errorf("%s: %q: framing %d keepalive %v, want %d %v", rfc, in, got, resp.KeepAlive, want, keepAlive)
		}
	}
	const cl = "Content-Length: 5\r\n"
	const te = "Transfer-Encoding: chunked\r\n"
	f("9112 §6.3 p1", "HTTP/1.1 200 OK\r\n"+cl+"\r\n", MethodHead, FramingNone, true)
	f("9112 §6.3 p1", "HTTP/1.1 200 OK\r\n"+te+"\r\n", MethodHead, FramingNone, true)
	f("9112 §6.3 p1", "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", MethodGet, FramingNone, true)
	f("9112 §6.3 p1", "HTTP/1.1 103 Early Hints\r\n\r\n", MethodGet, FramingNone, true)
	f("9112 §6.3 p1", "HTTP/1.1 204 No Content\r\n"+cl+"\r\n", MethodGet, FramingNone, true)
	f("9112 §6.3 p1", "HTTP/1.1 304 Not Modified\r\n"+cl+"\r\n", MethodGet, FramingNone, true)
	f("9112 §6.3 p2", "HTTP/1.1 200 Connection established\r\n\r\n", MethodConnect, FramingNone, true)
	f("9112 §6.3 p2", "HTTP/1.1 407 Auth\r\n"+cl+"\r\n", MethodConnect, FramingLength, true)
	f("9112 §6.3 p4", "HTTP/1.1 200 OK\r\n"+te+"\r\n", MethodGet, FramingChunked, true)
	f("9112 §6.3 p4", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", MethodGet, FramingChunked, true)
	f("9112 §6.3 p4", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", MethodGet, FramingUntilClose, false)
	f("9112 §6.3 p4", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", MethodGet, FramingUntilClose, false)
	f("9112 §6.3 p6", "HTTP/1.1 200 OK\r\n"+cl+"\r\n", MethodGet, FramingLength, true)
	f("9112 §3.2", "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n"+cl+"\r\n", MethodGet, FramingLength, true) // Host rules are for requests
	f("9112 §6.3 p6", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", MethodPost, FramingLength, true)
	f("9112 §6.3 p8", "HTTP/1.1 200 OK\r\n\r\n", MethodGet, FramingUntilClose, true)
	f("9112 §9.3", "HTTP/1.1 200 OK\r\nConnection: close\r\n"+cl+"\r\n", MethodGet, FramingLength, false)
	f("9112 §9.3", "HTTP/1.0 200 OK\r\n"+cl+"\r\n", MethodGet, FramingLength, false)
	f("9112 §9.3", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"+cl+"\r\n", MethodGet, FramingLength, true)
}

func TestParseResponseRejects(t *testing.T) {
	f := func(rfc, in string, want *Error) {
		t.Helper()
		if _, _, _, err := parseResp(in); err != want {
			t.Errorf("%s: %q: got %v, want %v", rfc, in, err, want)
		}
	}
	f("9112 §6.3 p3", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", ErrTEWithCL)
	f("9112 §6.1", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEOnHTTP10)
	f("9112 §6.1", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", ErrBadTransferEncoding)
	f("9110 §8.6", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", ErrConflictingContentLength)
	f("9110 §8.6", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ErrBadContentLength)
}

func TestParseResponseIncremental(t *testing.T) {
	const in = "HTTP/1.1 200 OK\r\nServer: x\r\nTransfer-Encoding: chunked\r\nX-Empty: \r\n\r\n"
	for k := 0; k < len(in); k++ {
		if _, _, n, err := parseResp(in[:k]); err != ErrNeedMore {
			t.Fatalf("%q: got (%d, %v), want ErrNeedMore", in[:k], n, err)
		}
	}
	resp, _, n, err := parseResp(in)
	if err != nil || n != len(in) || !resp.Chunked || resp.ContentLength != -1 {
		t.Fatalf("got (%d, %v) chunked %v cl %d", n, err, resp.Chunked, resp.ContentLength)
	}
}

func TestParseResponseLimits(t *testing.T) {
	var arr [2]Header
	resp := Response{Headers: arr[:0]}
	if _, err := ParseResponse([]byte("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), &resp, nil); err != ErrTooManyHeaders {
		t.Errorf("3 fields in 2 slots: %v", err)
	}
	lim := &Limits{MaxRequestLine: 20, MaxHeaderBytes: 16}
	f := func(in string, want error) {
		t.Helper()
		resp.Headers = arr[:0]
		if _, err := ParseResponse([]byte(in), &resp, lim); err != want {
			t.Errorf("%q: got %v, want %v", in, err, want)
		}
	}
	f("HTTP/1.1 200 OKOKOKO\r\n\r\n", nil) // 20 bytes
	f("HTTP/1.1 200 OKOKOKOK\r\n\r\n", ErrRequestLineTooLong)
	f("HTTP/1.1 200 OKOKOKOKOK", ErrRequestLineTooLong)
	f("HTTP/1.1 200 OK\r\nA: 123456789\r\n\r\n", nil) // 16 bytes of section
	f("HTTP/1.1 200 OK\r\nA: 1234567890\r\n\r\n", ErrHeaderTooLarge)
	f("HTTP/1.1 200 OK\r\nA: 12345678901\r\n", ErrHeaderTooLarge)
}
