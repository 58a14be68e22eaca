// Package httpparse is Torii's strict, incremental, zero-allocation HTTP/1.1
// parser for request heads, response heads and chunked bodies.
//
// The parser works on bytes the caller has peeked from a connection. It never
// copies: every field it reports is a Span, a pair of offsets into the buffer
// the caller passed in, and headers are written into a fixed-capacity slice the
// caller owns. A parse function returns how many bytes it consumed, or
// ErrNeedMore when the buffer does not yet hold a complete element; the caller
// then reads more and calls again with the longer buffer, from the start of
// the element.
//
//	var arr [64]httpparse.Header
//	req := httpparse.Request{Headers: arr[:0]}
//	n, err := httpparse.ParseRequest(buf, &req, nil)
//	switch {
//	case err == httpparse.ErrNeedMore: // wait for more bytes, keep buf
//	case err != nil:                   // answer httpparse.StatusOf(err), close
//	default:                           // head is buf[:n]; body framing in req.Framing
//	}
//
// Every rejection is an *Error carrying the HTTP status a server or proxy
// should answer with (400, 414, 431, 501, 505); see errors.go. An incomplete
// head that already breaks a rule or a limit is rejected at once, so a peer
// cannot hold a connection by never finishing a bad head. Limits are in
// Limits (request line 8 KiB → 414, header section 32 KiB → 431, both
// configurable) and in named constants (chunk-size line, trailers, repeated
// Content-Length and Transfer-Encoding values).
//
// # Strictness
//
// Torii is a proxy: every leniency is a chance for it and the next hop to
// read the same bytes differently (request smuggling). The parser therefore
// accepts only what RFC 9112 and RFC 9110 say a sender must generate, with
// these deliberate choices:
//
//   - Bare LF is rejected everywhere with 400: in the start line, field
//     lines, the empty line ending a head, chunk-size lines, after chunk data
//     and in trailers. Every line must end in CRLF. A CR not followed by LF is
//     rejected too (RFC 9112 §2.2).
//   - Exactly one SP separates the parts of the request line; no other
//     whitespace is accepted there (RFC 9112 §3).
//   - obs-fold, whitespace before the first field line, and whitespace between
//     a field name and its colon are rejected (RFC 9112 §2.2, §5.1, §5.2).
//   - Field values may hold SP, HTAB, VCHAR and obs-text; NUL, CR, LF and every
//     other control byte, DEL included, are rejected (RFC 9110 §5.5).
//   - Content-Length is 1*DIGIT within int64. Repeated lines or comma lists of
//     one equal value are read as that value (RFC 9110 §8.6); anything else
//     (signs, hex, empty elements, differing values) is 400.
//   - On a request, Transfer-Encoding with Content-Length is 400, a list not
//     ending in chunked is 400, chunked listed twice is 400, any coding besides
//     chunked is 501 (the proxy re-frames bodies and cannot carry other
//     codings), and Transfer-Encoding on HTTP/1.0 is 400 (RFC 9112 §6.1, §6.3).
//   - HTTP/1.1 requests need exactly one Host; no request may have two
//     (RFC 9112 §3.2). Host must be uri-host [":" port] in RFC 3986 bytes.
//   - Up to four empty lines before a request line are skipped (RFC 9112 §2.2).
//
// # Connection semantics
//
// Request.KeepAlive and Response.KeepAlive follow RFC 9112 §9.3: HTTP/1.1
// persists unless Connection lists "close"; HTTP/1.0 persists only if it lists
// "keep-alive" (and not "close"). Request.Upgrade needs an HTTP/1.1
// "Connection: upgrade" and an Upgrade field (RFC 9110 §7.8);
// Request.Expect100 ignores Expect on HTTP/1.0 (RFC 9110 §10.1.1).
//
// FlagHopByHop marks the fields a proxy must not forward: Connection, the
// fields RFC 9110 §7.6.1 names (Proxy-Connection, Keep-Alive, TE,
// Transfer-Encoding, Upgrade), Trailer, Proxy-Authenticate and
// Proxy-Authorization (hop-by-hop in RFC 2616 §13.5.1: Torii does no proxy
// authentication, so credentials meant for a proxy must not reach an origin,
// and it re-frames bodies, so Trailer is regenerated), HTTP2-Settings (RFC
// 7540 §3.2.1: it only goes with an Upgrade: h2c, which must not reach a
// backend through a proxy), and every field named by a Connection option.
// FlagFraming marks Content-Length and Transfer-Encoding, which the proxy
// regenerates for the next hop. The engine writes Upgrade and Connection
// itself when it tunnels an upgrade, which it does for websocket only.
//
// A response head is parsed the same way. Its errors carry the status the
// upstream's fault would earn a client; a proxy answers 502 instead. The body
// framing of a response depends on the request method: see
// Response.BodyFraming.
//
// # Paths
//
// The parser takes the request-target as sent: Request.Path is raw bytes.
// NormalizePath (path.go) gives the one form a proxy should route, check and
// forward (RFC 3986 §6.2.2: encoded unreserved characters decoded, other
// escapes upper-cased, dot segments removed; plus merged slashes), and
// refuses with 400 what no normal form makes safe: malformed escapes,
// encoded control characters, ".." above the root, "\" and "..;".
// PathIsNormal is its fast path, one scan that finds nothing to do. It can
// rewrite a path in place, as it never grows.
//
// # Caveats
//
// A Span is only meaningful together with the exact buffer it was parsed
// from, and only while that buffer's bytes are unchanged. When that buffer is
// gnet's Peek result, the bytes die when OnTraffic returns: nothing derived
// from a Span may be stored past that point without copying it. The data
// Span from ChunkedDecoder.Decode points into the buffer of that one call.
//
// Request, Response and ChunkedDecoder values are not safe for concurrent
// use; each event loop owns its own. The package-level functions keep no
// state and are safe for concurrent use. Nothing here allocates, and nothing
// panics on any input.
package httpparse
