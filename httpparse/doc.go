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
// Every rejection is an *Error carrying the HTTP status a server or proxy
// should answer with (400, 414, 431, 501, 505 ...). See errors.go.
//
// # Caveats
//
// A Span is only meaningful together with the exact buffer it was parsed
// from. When that buffer is gnet's Peek result, the bytes die when OnTraffic
// returns: nothing derived from a Span may be stored past that point without
// copying it. Request, Response and ChunkedDecoder values are not safe for
// concurrent use; each event loop owns its own.
package httpparse
