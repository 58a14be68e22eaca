package httpparse

import "testing"

// TestSmuggling replays classic request-smuggling and desync payloads (CL.TE,
// TE.CL, TE.TE obfuscations, header-name and line-ending tricks). Each must
// be rejected with the status named, so that the proxy never forwards a
// message the next hop could frame differently.
func TestSmuggling(t *testing.T) {
	f := func(attack, in string, want *Error) {
		t.Helper()
		var arr [32]Header
		req := Request{Headers: arr[:0]}
		if _, err := ParseRequest([]byte(in), &req, nil); err != want {
			t.Errorf("%s: got %v, want %v", attack, err, want)
		}
	}
	const p = "POST / HTTP/1.1\r\nHost: a\r\n"
	f("CL.TE (RFC 9112 §6.3 p3)", p+"Content-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED", ErrTEWithCL)
	f("TE.CL (RFC 9112 §6.3 p3)", p+"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", ErrTEWithCL)
	f("TE.TE second coding (RFC 9112 §6.3 p4)", p+"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n", ErrTENotChunked)
	f("TE.TE identity (RFC 9112 §6.3 p4)", p+"Transfer-Encoding: chunked, identity\r\n\r\n", ErrTENotChunked)
	f("TE.TE misspelt (RFC 9112 §6.3 p4)", p+"Transfer-Encoding: xchunked\r\n\r\n", ErrTENotChunked)
	f("TE.TE quoted (RFC 9112 §6.1)", p+"Transfer-Encoding: \"chunked\"\r\n\r\n", ErrBadTransferEncoding)
	f("TE.TE vertical tab (RFC 9110 §5.5)", p+"Transfer-Encoding:\x0bchunked\r\n\r\n", ErrBadHeaderValue)
	f("TE.TE form feed (RFC 9110 §5.5)", p+"Transfer-Encoding: chunked\x0c\r\n\r\n", ErrBadHeaderValue)
	f("TE.TE space before colon (RFC 9112 §5.1)", p+"Transfer-Encoding : chunked\r\n\r\n", ErrSpaceBeforeColon)
	f("TE.TE leading space (RFC 9112 §5.2)", p+" Transfer-Encoding: chunked\r\n\r\n", ErrObsFold)
	f("TE.TE folded value (RFC 9112 §5.2)", p+"Transfer-Encoding:\r\n chunked\r\n\r\n", ErrBadTransferEncoding)
	f("TE.TE folded continuation (RFC 9112 §5.2)", p+"X: y\r\n Transfer-Encoding: chunked\r\n\r\n", ErrObsFold)
	f("TE.TE bare LF before the field (RFC 9112 §2.2)", p+"X: y\nTransfer-Encoding: chunked\r\n\r\n", ErrBareLF)
	f("TE.TE bare CR inside a line (RFC 9112 §2.2)", p+"X: y\rTransfer-Encoding: chunked\r\n\r\n", ErrBareCR)
	f("TE.TE NUL in the name (RFC 9110 §5.1)", p+"Transfer-Encoding\x00: chunked\r\n\r\n", ErrBadHeaderName)
	f("TE on HTTP/1.0 (RFC 9112 §6.1)", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEOnHTTP10)
	f("CL.CL differing (RFC 9112 §6.3 p5)", p+"Content-Length: 3\r\nContent-Length: 30\r\n\r\n", ErrConflictingContentLength)
	f("CL list differing (RFC 9110 §8.6)", p+"Content-Length: 3, 30\r\n\r\n", ErrConflictingContentLength)
	f("CL sign (RFC 9110 §8.6)", p+"Content-Length: +3\r\n\r\n", ErrBadContentLength)
	f("CL hex (RFC 9110 §8.6)", p+"Content-Length: 0x3\r\n\r\n", ErrBadContentLength)
	f("CL wraps int64 (RFC 9110 §8.6)", p+"Content-Length: 18446744073709551619\r\n\r\n", ErrBadContentLength)
	f("CL with trailing garbage (RFC 9110 §8.6)", p+"Content-Length: 3 x\r\n\r\n", ErrBadContentLength)
	f("CL space before colon (RFC 9112 §5.1)", p+"Content-Length : 3\r\n\r\n", ErrSpaceBeforeColon)
	f("Host confusion (RFC 9112 §3.2)", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", ErrDuplicateHost)
	f("Host with path (RFC 9110 §7.2)", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ErrBadHost)
	f("request line with bare LF (RFC 9112 §2.2)", "GET / HTTP/1.1\nHost: a\r\n\r\n", ErrBareLF)
	f("HTTP/0.9 style request (RFC 9112 §3)", "GET /\r\n\r\n", ErrBadRequestLine)
	f("header end with bare LF (RFC 9112 §2.2)", p+"Content-Length: 0\r\n\nGET /x HTTP/1.1\r\n\r\n", ErrBareLF)
}
