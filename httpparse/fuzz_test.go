package httpparse

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// requestSeeds are valid and invalid request heads that start the fuzzers.
var requestSeeds = []string{
	browserRequest,
	curlRequest,
	chunkedHead + chunkedBody,
	"GET http://a.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
	"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
	"OPTIONS * HTTP/1.0\r\n\r\n",
	"\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
	"GET / HTTP/1.1\r\nConnection: Upgrade, X-A\r\nUpgrade: websocket\r\nX-A: 1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nPragma: no-cache\r\n\r\n",
}

// fuzzLimits derives small limits from the input's length, so the fuzzer
// also explores heads that cross them (and the verdict-stability check below
// keeps the same limits for the longer input).
func fuzzLimits(buf []byte) *Limits {
	return &Limits{MaxRequestLine: 16 + len(buf)%241, MaxHeaderBytes: 8 + len(buf)%509}
}

// checkLineEndings fails if the accepted head holds a bare LF or a bare CR:
// every line of an accepted message ends in CRLF and nowhere else are CR or LF.
func checkLineEndings(t *testing.T, head []byte) {
	t.Helper()
	for k, c := range head {
		if c == '\n' && (k == 0 || head[k-1] != '\r') || c == '\r' && (k+1 == len(head) || head[k+1] != '\n') {
			t.Fatalf("accepted head with a bare CR or LF at %d: %q", k, head)
		}
	}
}

// checkSpans fails if a span is outside the head or reversed.
func checkSpans(t *testing.T, head int, spans ...Span) {
	t.Helper()
	for _, s := range spans {
		if s.Start < 0 || s.Start > s.End || int(s.End) > head {
			t.Fatalf("span %v outside head of %d bytes", s, head)
		}
	}
}

// FuzzParseRequest checks that ParseRequest never panics, keeps its spans
// inside the head, and is incremental: a prefix of an accepted head asks for
// more, and bytes after a rejected one do not change the verdict.
func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		var arr [16]Header
		req := Request{Headers: arr[:0]}
		lim := fuzzLimits(buf)
		n, err := ParseRequest(buf, &req, lim)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with consumed %d", err, n)
			}
			if err == ErrNeedMore {
				return
			}
			if StatusOf(err) < 400 {
				t.Fatalf("error %v has status %d", err, StatusOf(err))
			}
			longer := append(slices.Clip(buf), "\r\n\r\n"+strings.Repeat("x", 600)...)
			req.Headers = arr[:0]
			if _, err2 := ParseRequest(longer, &req, lim); err2 != err {
				t.Fatalf("verdict changed with more bytes: %v, then %v", err, err2)
			}
			return
		}
		if n > len(buf) || n != req.HeadLen || n < len("A / HTTP/1.0\r\n\r\n") {
			t.Fatalf("consumed %d of %d, HeadLen %d", n, len(buf), req.HeadLen)
		}
		checkLineEndings(t, buf[:n])
		checkSpans(t, n, req.Method, req.Target, req.Path, req.Query, req.Host)
		for _, h := range req.Headers {
			checkSpans(t, n, h.Name, h.Value)
			if h.Name.Len() == 0 {
				t.Fatal("empty name")
			}
		}
		if req.Version != HTTP10 && req.Version != HTTP11 {
			t.Fatalf("version %d", req.Version)
		}
		for _, k := range []int{0, n / 3, n / 2, n - 1} {
			req.Headers = arr[:0]
			if _, err := ParseRequest(buf[:k], &req, lim); err != ErrNeedMore {
				t.Fatalf("prefix of %d bytes: %v, want ErrNeedMore", k, err)
			}
		}
	})
}

// FuzzParseResponse is FuzzParseRequest for response heads.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		responseHead,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.0 204\r\nConnection: keep-alive\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\nX: y\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		var arr [16]Header
		resp := Response{Headers: arr[:0]}
		lim := fuzzLimits(buf)
		n, err := ParseResponse(buf, &resp, lim)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with consumed %d", err, n)
			}
			if err == ErrNeedMore {
				return
			}
			longer := append(slices.Clip(buf), "\r\n\r\n"+strings.Repeat("x", 600)...)
			resp.Headers = arr[:0]
			if _, err2 := ParseResponse(longer, &resp, lim); err2 != err {
				t.Fatalf("verdict changed with more bytes: %v, then %v", err, err2)
			}
			return
		}
		if n > len(buf) || n != resp.HeadLen || resp.Status < 100 || resp.Status > 599 {
			t.Fatalf("consumed %d of %d, HeadLen %d, status %d", n, len(buf), resp.HeadLen, resp.Status)
		}
		checkLineEndings(t, buf[:n])
		checkSpans(t, n, resp.Reason)
		for _, h := range resp.Headers {
			checkSpans(t, n, h.Name, h.Value)
		}
		for _, m := range []Method{MethodGet, MethodHead, MethodConnect} {
			if fr := resp.BodyFraming(m); fr > FramingUntilClose || (fr == FramingLength && resp.ContentLength < 0) {
				t.Fatalf("framing %d with Content-Length %d", fr, resp.ContentLength)
			}
		}
		for _, k := range []int{0, n / 2, n - 1} {
			resp.Headers = arr[:0]
			if _, err := ParseResponse(buf[:k], &resp, lim); err != ErrNeedMore {
				t.Fatalf("prefix of %d bytes: %v, want ErrNeedMore", k, err)
			}
		}
	})
}

// FuzzChunked decodes the same body whole and byte by byte (the results must
// match) and, where net/http's chunked reader also accepts it, compares the
// decoded bodies. net/http is more lenient: it accepts bare LF line endings,
// whitespace after the size and any bytes in extensions, all of which this
// decoder rejects (see checkChunkExt and the package doc).
func FuzzChunked(f *testing.F) {
	for _, s := range []string{
		chunkedBody,
		"0\r\n\r\n",
		"5\r\nhello\r\n0\r\n\r\n",
		"3;a=\"b\\\"\"\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"1\nx\n0\n\n",
		"fffffffffffffffff\r\n",
		"1 \r\nx\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		whole, wholeUsed, wholeErr := decodeSteps(buf, len(buf))
		bytewise, byteUsed, byteErr := decodeSteps(buf, 1)
		if wholeErr != byteErr || wholeUsed != byteUsed || !bytes.Equal(whole, bytewise) {
			t.Fatalf("whole: (%q, %d, %v); byte by byte: (%q, %d, %v)", whole, wholeUsed, wholeErr, bytewise, byteUsed, byteErr)
		}
		if wholeErr != nil {
			return
		}
		ref, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(buf)))
		if err != nil {
			// net/http rejects some bodies this decoder accepts (see the
			// list above); only bodies both accept are compared. Its reader
			// stops at the last chunk and never reads trailers.
			return
		}
		if !bytes.Equal(ref, whole) {
			t.Fatalf("body %q, net/http %q", whole, ref)
		}
	})
}

// decodeSteps decodes buf with a ChunkedDecoder that sees step more bytes
// each time it asks for more. It returns the body and the bytes consumed.
func decodeSteps(buf []byte, step int) ([]byte, int, error) {
	var d ChunkedDecoder
	var body []byte
	used, avail := 0, min(step, len(buf))
	for calls := 0; calls <= 4*len(buf)+4; calls++ {
		n, data, done, err := d.Decode(buf[used:avail])
		switch {
		case err == ErrNeedMore && avail < len(buf):
			avail = min(avail+step, len(buf))
			continue
		case err != nil:
			return body, used, err
		}
		if n == 0 && !done {
			panic("BUG: Decode made no progress")
		}
		body = append(body, data.Bytes(buf[used:avail])...)
		used += n
		if done {
			return body, used, nil
		}
	}
	panic("BUG: too many Decode calls")
}

// FuzzDifferential parses the same request head with ParseRequest and
// net/http's ReadRequest. Where both accept, method, request-target, version,
// Host and the header fields must agree.
//
// Where this parser is stricter than net/http, on purpose (it rejects, net/http accepts):
//   - bare LF line endings (net/http reads lines ending in LF alone): smuggling risk, see doc.go;
//   - obs-fold continuation lines and whitespace after the start line (RFC 9112 §5.2, §2.2);
//   - HTTP versions other than 1.0 and 1.1, such as HTTP/1.2 or HTTP/0.9 (505 here);
//   - "#", controls and non-ASCII bytes in the request-target, and targets in no RFC 9112 form;
//   - CONNECT with an origin-form path (net/rpc style) and "*" with a method other than OPTIONS;
//   - absolute-form targets with userinfo, without "//" or with an empty authority;
//   - Host values with bytes outside RFC 3986 reg-name / IP-literal (net/http only rejects a few);
//   - Transfer-Encoding on HTTP/1.0, and malformed Connection lists.
//
// TestDifferentialStricter keeps one example of each. This parser is more
// lenient than net/http in two places, both allowed by the RFCs: a comma list
// of equal Content-Length values in one line (RFC 9110 §8.6), and up to
// maxLeadingEmptyLines CRLFs before the request line (RFC 9112 §2.2).
//
// net/http rewrites some fields, which are therefore left out of the header
// comparison: Host (compared on its own), Content-Length (merged), Transfer-Encoding and Trailer
// (consumed by readTransfer) and Cache-Control (added for "Pragma: no-cache").
func FuzzDifferential(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) { compareNetHTTP(t, buf) })
}

// compareNetHTTP parses buf with both parsers and fails t where both accept
// it but disagree. It reports whether both accepted.
func compareNetHTTP(t *testing.T, buf []byte) bool {
	t.Helper()
	var arr [64]Header
	req := Request{Headers: arr[:0]}
	n, err := ParseRequest(buf, &req, nil)
	if err != nil {
		return false
	}
	ref, refErr := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf[:n])))
	if refErr != nil {
		return false
	}
	if got := string(req.Method.Bytes(buf)); got != ref.Method {
		t.Fatalf("method %q, net/http %q", got, ref.Method)
	}
	if got := string(req.Target.Bytes(buf)); got != ref.RequestURI {
		t.Fatalf("target %q, net/http %q", got, ref.RequestURI)
	}
	if int(req.Version) != ref.ProtoMajor*10+ref.ProtoMinor {
		t.Fatalf("version %d, net/http %d.%d", req.Version, ref.ProtoMajor, ref.ProtoMinor)
	}
	if req.Form != FormAuthority {
		if got := string(req.Host.Bytes(buf)); got != ref.Host {
			t.Fatalf("host %q, net/http %q", got, ref.Host)
		}
	}
	skip := map[string]bool{"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Trailer": true}
	if _, ok := ref.Header["Pragma"]; ok {
		skip["Cache-Control"] = true
	}
	ours := http.Header{}
	for _, h := range req.Headers {
		k := textproto.CanonicalMIMEHeaderKey(string(h.Name.Bytes(buf)))
		if !skip[k] {
			ours[k] = append(ours[k], string(h.Value.Bytes(buf)))
		}
	}
	for k := range skip {
		delete(ref.Header, k)
	}
	if len(ours) != len(ref.Header) {
		t.Fatalf("headers %v, net/http %v", ours, ref.Header)
	}
	for k, v := range ours {
		if !slices.Equal(v, ref.Header[k]) {
			t.Fatalf("header %s: %q, net/http %q", k, v, ref.Header[k])
		}
	}
	if (req.Framing == FramingChunked) != slices.Contains(ref.TransferEncoding, "chunked") {
		t.Fatalf("chunked %v, net/http %v", req.Framing == FramingChunked, ref.TransferEncoding)
	}
	if req.Framing == FramingLength && req.ContentLength != ref.ContentLength {
		t.Fatalf("content length %d, net/http %d", req.ContentLength, ref.ContentLength)
	}
	if req.KeepAlive == ref.Close {
		t.Fatalf("keep-alive %v, net/http close %v", req.KeepAlive, ref.Close)
	}
	return true
}

// FuzzDifferentialResponse parses the same response head with ParseResponse
// and net/http's ReadResponse (answering a GET). Where both accept, version,
// status, header fields, framing and persistence must agree. Field
// comparison leaves out what net/http rewrites, as in FuzzDifferential.
// This parser is stricter on bare LF, obs-fold, whitespace before colons,
// versions other than 1.0 and 1.1, status codes outside 100..599 and
// Transfer-Encoding together with Content-Length or on HTTP/1.0.
func FuzzDifferentialResponse(f *testing.F) {
	for _, s := range []string{
		responseHead,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) { compareNetHTTPResponse(t, buf) })
}

// compareNetHTTPResponse is compareNetHTTP for response heads.
func compareNetHTTPResponse(t *testing.T, buf []byte) bool {
	t.Helper()
	var arr [64]Header
	resp := Response{Headers: arr[:0]}
	n, err := ParseResponse(buf, &resp, nil)
	if err != nil {
		return false
	}
	ref, refErr := http.ReadResponse(bufio.NewReader(bytes.NewReader(buf[:n])), nil)
	if refErr != nil {
		return false
	}
	if resp.Status != ref.StatusCode || int(resp.Version) != ref.ProtoMajor*10+ref.ProtoMinor {
		t.Fatalf("status %d version %d, net/http %d %d.%d", resp.Status, resp.Version, ref.StatusCode, ref.ProtoMajor, ref.ProtoMinor)
	}
	// net/http also drops "Connection: close" from responses; persistence is compared below.
	skip := map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Trailer": true, "Connection": true}
	ours := http.Header{}
	for _, h := range resp.Headers {
		k := textproto.CanonicalMIMEHeaderKey(string(h.Name.Bytes(buf)))
		if !skip[k] {
			ours[k] = append(ours[k], string(h.Value.Bytes(buf)))
		}
	}
	for k := range skip {
		delete(ref.Header, k)
	}
	if len(ours) != len(ref.Header) {
		t.Fatalf("headers %v, net/http %v", ours, ref.Header)
	}
	for k, v := range ours {
		if !slices.Equal(v, ref.Header[k]) {
			t.Fatalf("header %s: %q, net/http %q", k, v, ref.Header[k])
		}
	}
	framing := resp.BodyFraming(MethodGet)
	if (framing == FramingChunked) != slices.Contains(ref.TransferEncoding, "chunked") {
		t.Fatalf("framing %d, net/http transfer-encoding %v", framing, ref.TransferEncoding)
	}
	if framing == FramingLength && resp.ContentLength != ref.ContentLength {
		t.Fatalf("content length %d, net/http %d", resp.ContentLength, ref.ContentLength)
	}
	if closes := !resp.KeepAlive || framing == FramingUntilClose; closes != ref.Close {
		t.Fatalf("closes %v (framing %d), net/http close %v", closes, framing, ref.Close)
	}
	return true
}

// FuzzNormalizePath checks NormalizePath against referenceNormalize and its
// own promises: idempotent, never longer than its input, no "//", "/./" or
// "/../" left, the same result in place, and no panic.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/%61dmin", "//admin", "/./admin", "/x/../admin", "/a/b/..", "/a%2fb",
		"/%2e%2e/x", "/a/..;/b", "/a%", "/a%00", "/.well-known/a", "/a\\b", "/caf%c3%a9/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) == 0 || in[0] != '/' {
			in = "/" + in
		}
		got, err := NormalizePath(nil, []byte(in))
		want, ok := referenceNormalize(in)
		if ok != (err == nil) {
			t.Fatalf("%q: NormalizePath error %v, reference ok %v", in, err, ok)
		}
		if err != nil {
			if StatusOf(err) != 400 {
				t.Fatalf("%q: status %d", in, StatusOf(err))
			}
			return
		}
		if string(got) != want {
			t.Fatalf("%q: NormalizePath %q, reference %q", in, got, want)
		}
		if len(got) > len(in) {
			t.Fatalf("%q grew to %q", in, got)
		}
		for _, bad := range []string{"//", "/./", "/../"} {
			if strings.Contains(string(got), bad) {
				t.Fatalf("%q: result %q contains %q", in, got, bad)
			}
		}
		if strings.HasSuffix(string(got), "/.") || strings.HasSuffix(string(got), "/..") {
			t.Fatalf("%q: result %q ends in a dot segment", in, got)
		}
		again, err := NormalizePath(nil, got)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("%q: not idempotent: %q then %q, %v", in, got, again, err)
		}
		if !PathIsNormal(got) && !bytes.ContainsRune(got, '%') {
			t.Fatalf("%q: result %q not seen as normal", in, got)
		}
		buf := []byte(in)
		if inPlace, err := NormalizePath(buf[:0], buf); err != nil || !bytes.Equal(inPlace, got) {
			t.Fatalf("%q: in place %q, %v; want %q", in, inPlace, err, got)
		}
	})
}
