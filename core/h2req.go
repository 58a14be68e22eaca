package core

import (
	"bytes"

	"github.com/torii-gateway/torii/core/h2"
	"github.com/torii-gateway/torii/httpparse"
)

// Request validation and translation (RFC 9113 §8.1-8.3). A stream's header
// block is checked field by field as HPACK decodes it; what is malformed
// resets the stream with PROTOCOL_ERROR before any byte reaches the engine:
//   - names: lower-case tokens only (no upper case, CR, LF, NUL, space,
//     colon outside pseudo-headers); values: no NUL, CR, LF or other
//     control byte but HTAB, no leading or trailing SP or HTAB;
//   - pseudo-headers: only :method, :scheme, :authority, :path (extended
//     CONNECT's :protocol is not advertised), each at most once, none after
//     a regular field, none in trailers; :method a token; :path non-empty,
//     starting with "/" ("*" for OPTIONS); :scheme and :path required;
//   - connection-specific fields (connection, keep-alive, proxy-connection,
//     transfer-encoding, upgrade) and te other than "trailers";
//   - content-length: digits only, and then the DATA must add up to it;
//   - trailers: HEADERS with END_STREAM only, no pseudo-header.
//
// Refused with an answer (the engine's error page, translated): CONNECT
// 405 errors.connect.not.allowed, more than one content-length or a host
// that differs from :authority 400, a header list over MaxHeaderListSize
// 431. The HTTP/1.1 head is written by us, never copied: request line,
// Host from :authority, the regular fields, cookies joined with "; "
// (§8.2.3), framing from the checked content-length (or chunked when there
// is none and a body follows), and Connection: close so that the engine
// closes the virtual connection after its one exchange.

// h2sink decodes header blocks for the connection (h2.Sink).
type h2sink struct {
	hc *h2conn
	st *h2stream

	trailers bool
	bad      bool    // malformed: stream error PROTOCOL_ERROR
	answer   errKind // refused with this answer (errNone: not)
	skip     bool    // decode only, to keep the HPACK table in step
	size     uint32
	regular  bool

	pseudo                                []byte // pseudo-header values
	method, scheme, authority, path, host [2]int
	hasMethod, hasScheme, hasAuthority    bool
	hasPath, hasHost, hasCL, multiCL      bool
	cl                                    int64
	fields, cookies                       []byte
}

// errNone is no answer: a value past every errKind.
const errNone errKind = 255

func (k *h2sink) reset(st *h2stream, trailers bool) {
	*k = h2sink{hc: k.hc, st: st, trailers: trailers, answer: errNone, pseudo: k.pseudo[:0], fields: k.fields[:0], cookies: k.cookies[:0]}
}

// discard decodes a block whose stream is gone.
func (k *h2sink) discard(block []byte) error {
	k.reset(nil, false)
	k.skip = true
	return k.hc.dec.Decode(block, k)
}

// Field is h2.Sink.
func (k *h2sink) Field(name, value []byte) error {
	if k.skip {
		return nil
	}
	k.size += uint32(len(name) + len(value) + 32)
	if k.size > k.hc.cfg.MaxHeaderListSize {
		if k.answer == errNone {
			k.answer = errHeadersTooLarge
		}
		return nil // keep decoding: the table must stay in step (HPACK bombs stop here)
	}
	if k.bad || k.answer != errNone {
		return nil
	}
	if !validValue(value) || len(name) == 0 {
		k.bad = true
		return nil
	}
	if name[0] == ':' {
		if k.regular || k.trailers {
			k.bad = true
			return nil
		}
		var span *[2]int
		var seen *bool
		switch string(name) {
		case ":method":
			span, seen = &k.method, &k.hasMethod
		case ":scheme":
			span, seen = &k.scheme, &k.hasScheme
		case ":authority":
			span, seen = &k.authority, &k.hasAuthority
		case ":path":
			span, seen = &k.path, &k.hasPath
		default:
			k.bad = true // unknown, a response pseudo-header, or :protocol
			return nil
		}
		if *seen {
			k.bad = true
			return nil
		}
		*seen = true
		*span = [2]int{len(k.pseudo), len(k.pseudo) + len(value)}
		k.pseudo = append(k.pseudo, value...)
		return nil
	}
	k.regular = true
	if !validName(name) {
		k.bad = true
		return nil
	}
	switch string(name) {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		k.bad = true
		return nil
	case "te":
		if !bytes.Equal(value, []byte("trailers")) {
			k.bad = true
		}
		return nil
	}
	if k.trailers {
		if forbiddenTrailer(name) {
			// Framing, routing or authentication in trailers: refused when the
			// request declared trailers (Trailer), dropped otherwise, like x/net.
			k.bad = k.st != nil && k.st.declTrailers
			return nil
		}
		if trailerAllowed(name, true) {
			k.fields = appendFieldLine(k.fields, name, value)
		}
		return nil
	}
	switch string(name) {
	case "content-length":
		v, ok := parseDigits(value)
		if !ok {
			k.bad = true
			return nil
		}
		if k.hasCL {
			k.multiCL = true
		}
		k.hasCL, k.cl = true, v
		return nil
	case "host":
		if k.hasHost {
			k.answer = errBadRequest
			return nil
		}
		k.hasHost = true
		k.host = [2]int{len(k.pseudo), len(k.pseudo) + len(value)}
		k.pseudo = append(k.pseudo, value...)
		return nil
	case "cookie":
		if len(k.cookies) > 0 {
			k.cookies = append(k.cookies, "; "...)
		}
		k.cookies = append(k.cookies, value...)
		return nil
	case "http2-settings":
		return nil // connection-specific in HTTP/1.1; meaningless here
	case "trailer":
		k.st.declTrailers = true
	}
	k.fields = appendFieldLine(k.fields, name, value)
	return nil
}

func (k *h2sink) get(s [2]int) []byte { return k.pseudo[s[0]:s[1]] }

// decodeRequest decodes stream st's request header block and writes its
// HTTP/1.1 head into st.in; end says END_STREAM came with it. A malformed
// request sets k.bad; a refused one writes its answer (st.cc stays nil).
func (k *h2sink) decodeRequest(st *h2stream, block []byte, end bool) error {
	k.reset(st, false)
	if err := k.hc.dec.Decode(block, k); err != nil {
		return err
	}
	if k.bad {
		return nil
	}
	st.recvDone = end
	st.method = httpparse.MethodOther
	method := k.get(k.method)
	if k.answer == errNone {
		switch {
		case !k.hasMethod || !validToken(method):
			k.bad = true
		case string(method) == "CONNECT":
			if k.hasScheme || k.hasPath || !k.hasAuthority {
				k.bad = true
			} else {
				k.answer = errConnectRefused
			}
		case !k.hasScheme || !k.hasPath || len(k.get(k.path)) == 0:
			k.bad = true
		case k.get(k.path)[0] != '/' && !(string(k.get(k.path)) == "*" && string(method) == "OPTIONS"):
			k.bad = true
		case !validTarget(k.get(k.path)) || (k.hasAuthority && !validAuthority(k.get(k.authority))):
			k.bad = true
		case k.hasCL && end && k.cl > 0:
			k.bad = true // content-length and no DATA
		case k.multiCL:
			k.answer = errBadRequest
		case k.hasAuthority && k.hasHost && !bytes.Equal(k.get(k.authority), k.get(k.host)):
			k.answer = errBadRequest
		case !k.hasAuthority && k.hasHost && !validAuthority(k.get(k.host)):
			k.answer = errBadRequest
		}
	}
	if k.bad {
		return nil
	}
	if string(method) == "HEAD" {
		st.method = httpparse.MethodHead
	}
	if k.answer != errNone {
		return nil
	}
	in := st.in[:0]
	in = append(in, method...)
	in = append(in, ' ')
	in = append(in, k.get(k.path)...)
	in = append(in, " HTTP/1.1\r\n"...)
	switch {
	case k.hasAuthority:
		in = append(in, "Host: "...)
		in = append(in, k.get(k.authority)...)
		in = append(in, '\r', '\n')
	case k.hasHost:
		in = append(in, "Host: "...)
		in = append(in, k.get(k.host)...)
		in = append(in, '\r', '\n')
	}
	in = append(in, k.fields...)
	if len(k.cookies) > 0 {
		in = appendFieldLine(in, []byte("cookie"), k.cookies)
	}
	st.hasBody = !end
	switch {
	case k.hasCL:
		st.clLeft = k.cl
		in = append(in, "Content-Length: "...)
		in = itoa(in, k.cl)
		in = append(in, '\r', '\n')
	case !end:
		st.clLeft = -1
		in = append(in, "Transfer-Encoding: chunked\r\n"...)
	default:
		st.clLeft = 0
		switch string(method) {
		case "POST", "PUT", "PATCH":
			in = append(in, "Content-Length: 0\r\n"...)
		}
	}
	in = append(in, "Connection: close\r\n\r\n"...)
	if k.hasCL && k.cl == 0 && !end {
		// An empty body still to be ended: the head's last byte waits for
		// END_STREAM (as the last body byte does, see h2stream.held), so that
		// DATA past the content-length resets a stream the backend never saw.
		st.held, st.hasHeld = in[len(in)-1], true
		in = in[:len(in)-1]
	}
	st.in, st.off = in, 0
	return nil
}

// decodeTrailers decodes the request trailers of st and, for a chunked
// body, writes them as the last chunk's trailer section.
func (k *h2sink) decodeTrailers(st *h2stream, block []byte) error {
	k.reset(st, true)
	if err := k.hc.dec.Decode(block, k); err != nil {
		return err
	}
	if k.bad || !st.hasBody {
		k.bad = true
		return nil
	}
	if st.clLeft > 0 {
		k.bad = true // less DATA than content-length
		return nil
	}
	if st.clLeft < 0 && st.cc != nil {
		st.in = append(st.in, "0\r\n"...)
		st.in = append(st.in, k.fields...)
		st.in = append(st.in, '\r', '\n')
	}
	st.releaseHeld()
	return nil
}

// forbiddenTrailer reports whether a trailer field may not be sent: the
// fields framing, routing, authentication or content handling depend on.
func forbiddenTrailer(name []byte) bool {
	switch string(name) {
	case "authorization", "cache-control", "connection", "content-encoding", "content-length",
		"content-range", "content-type", "expect", "host", "keep-alive", "max-forwards", "pragma",
		"proxy-authenticate", "proxy-authorization", "proxy-connection", "range", "realm", "te",
		"trailer", "transfer-encoding", "www-authenticate":
		return true
	}
	return false
}

func appendFieldLine(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}

// validName reports whether name is a lower-case token.
func validName(name []byte) bool {
	for _, c := range name {
		if c >= 0x80 || !lowerTchar[c] {
			return false
		}
	}
	return true
}

func validToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !(lowerTchar[c] || ('A' <= c && c <= 'Z')) {
			return false
		}
	}
	return true
}

// validValue refuses NUL, CR, LF and the other control bytes but HTAB, and
// a value that starts or ends with SP or HTAB (RFC 9113 §8.2.1: an HTTP/1.1
// parser would trim it, so the request forwarded would not be the one sent).
func validValue(v []byte) bool {
	if n := len(v); n > 0 && (v[0] == ' ' || v[0] == '\t' || v[n-1] == ' ' || v[n-1] == '\t') {
		return false
	}
	for _, c := range v {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validTarget refuses in :path what no request-target holds (RFC 3986 §3.3-3.5,
// the bytes httpparse refuses too): spaces, control bytes, DEL, non-ASCII
// bytes and "#" (a fragment is never sent).
func validTarget(v []byte) bool {
	for _, c := range v {
		if c <= 0x20 || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// validAuthority allows a non-empty host[:port] without userinfo, exactly
// what httpparse accepts in Host (the translated request's Host must parse).
func validAuthority(v []byte) bool {
	return len(v) > 0 && httpparse.ValidAuthority(v)
}

func parseDigits(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// lowerTchar marks the token characters of RFC 9110 §5.6.2 but upper case.
var lowerTchar = func() (t [128]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// h2Answer answers st with the engine's error page for k, translated, and
// without the engine: the request was refused before it.
func (lp *loop) h2Answer(st *h2stream, k errKind) {
	page := errorPage(k, false, false)
	_, _ = st.Write(page)
}

var _ h2.Sink = (*h2sink)(nil)
