package core

import (
	"bytes"

	"github.com/torii-gateway/torii/httpparse"
)

// trailerDenied lists, lower-case, the fields that must not be forwarded in
// a trailer section, in either direction. RFC 9110 §6.5.1: a recipient must
// not merge a trailer field into the header section unless its definition
// allows it, and many fields cannot be processed once the content has been
// sent: those "that describe message framing, routing, authentication,
// request modifiers, response controls, or content format". A backend or
// client that honours them anyway (merging trailers into headers, as some
// frameworks do) could be made to see a Host, an Authorization or a
// Content-Length that the proxy never checked. So they are dropped, together
// with the hop-by-hop fields (RFC 9110 §7.6.1) and the fields the gateway
// itself sets (X-Forwarded-*, Forwarded; every Otoroshi-* field, see
// trailerAllowed).
var trailerDenied = func() map[string]bool {
	m := map[string]bool{}
	for _, name := range []string{
		// Framing (RFC 9112 §6) and the Trailer field itself.
		"content-length", "transfer-encoding", "trailer",
		// Routing.
		"host",
		// Request modifiers: controls (RFC 9110 §10.1), conditionals (§13.1),
		// content negotiation (§12.5).
		"cache-control", "expect", "max-forwards", "pragma", "range", "te",
		"if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range",
		"accept", "accept-charset", "accept-encoding", "accept-language",
		// Authentication and state (RFC 9110 §11, RFC 6265).
		"authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate",
		"authentication-info", "proxy-authentication-info", "cookie", "set-cookie",
		// Response control data (RFC 9110 §15, RFC 9111 §5).
		"age", "date", "expires", "location", "retry-after", "vary", "warning",
		// Content format (RFC 9110 §8).
		"content-type", "content-encoding", "content-range", "content-language", "content-location",
		// Hop-by-hop (RFC 9110 §7.6.1).
		"connection", "keep-alive", "proxy-connection", "upgrade",
		// Set by the gateway.
		"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded",
	} {
		m[name] = true
	}
	return m
}()

// maxDeniedTrailerName is longer than every name in trailerDenied: a longer
// name is only checked for the Otoroshi- prefix.
const maxDeniedTrailerName = 32

// otoroshiPrefix starts every field the gateway owns: request ids, latency
// headers, and the credentials of the API-key methods.
const otoroshiPrefix = "otoroshi-"

// trailerAllowed reports whether a trailer field named name may be
// forwarded. keepUnderscores keeps names with "_" (see Global), which are
// otherwise dropped as in request headers. Does not allocate.
func trailerAllowed(name []byte, keepUnderscores bool) bool {
	if len(name) >= len(otoroshiPrefix) && httpparse.EqualFold(name[:len(otoroshiPrefix)], otoroshiPrefix) {
		return false
	}
	if !keepUnderscores && bytes.IndexByte(name, '_') >= 0 {
		return false
	}
	if len(name) > maxDeniedTrailerName {
		return true
	}
	var arr [maxDeniedTrailerName]byte
	return !trailerDenied[string(httpparse.Lower(arr[:], name))]
}

// filterTrailer rewrites in place elem, the last element of a chunked body as
// the decoder consumed it (the trailer field lines, each ending in CRLF, then
// the final CRLF; the decoder has checked their syntax), keeping only the
// fields trailerAllowed accepts, and returns the length of what is left: the
// kept lines, then the final CRLF. What follows that length in elem is
// garbage and must not be sent. An element without trailer fields is left
// alone. Runs on a loop or a pump goroutine, on bytes the caller owns until
// it consumes them; does not allocate.
func filterTrailer(elem []byte, keepUnderscores bool) int {
	fields := len(elem) - 2
	if fields <= 0 {
		return len(elem)
	}
	w := 0
	for r := 0; r < fields; {
		e := bytes.IndexByte(elem[r:fields], '\n')
		if e < 0 {
			panic("BUG: core: a checked trailer line without LF")
		}
		line := elem[r : r+e+1]
		r += e + 1
		colon := bytes.IndexByte(line, ':')
		if colon < 0 || !trailerAllowed(line[:colon], keepUnderscores) {
			continue
		}
		w += copy(elem[w:], line)
	}
	elem[w], elem[w+1] = '\r', '\n'
	return w + 2
}
