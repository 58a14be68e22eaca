// Package h2edge serves HTTP/2 to clients (ALPN h2 after TLS, or h2c with prior knowledge) on
// goroutines with golang.org/x/net/http2, and hands each stream to the engine as exactly one
// HTTP/1.1 request, so that every stream goes through the same steps as an HTTP/1.1 request
// (routing, plugins, API keys, quotas, events with protocol HTTP/2.0, metrics).
//
// Since issue 18's h2loop work this is the fallback (`torii --h2-server h2edge`): by default the
// engine serves HTTP/2 itself on its event loops (core/h2conn.go, core.Config.HTTP2), several
// times faster and without allocations per stream. This package's tests run against both servers
// (bothServers); it stays until the engine's server has run in production for a while.
//
// Per HTTP/2 connection, a small pool of Unix socketpairs is enrolled into the engine (Config.Enroll,
// core.Server.Enroll with a PROXY v2 header whose ALPN is h2 and which carries the client's
// address and TLS details); net/http's Transport writes one request per socketpair at a time
// (HTTP/1.1 keep-alive, no pipelining), httputil.ReverseProxy copies the response (status,
// headers, body streamed with flushes, trailers) back onto the stream.
//
// What x/net/http2 enforces before a handler runs (RFC 9113 §8.1-8.3): pseudo-header rules,
// lowercase field names, no CR/LF/NUL in names or values, no connection-specific fields, TE only
// "trailers", content-length against the DATA received, no pseudo-headers or framing fields in
// trailers; extended CONNECT is not advertised. What this package adds (validate): CONNECT is
// refused (405 errors.connect.not.allowed, as the engine does for HTTP/1.1), a Host field that
// differs from :authority is refused (400), so a stream is refused or forwarded as exactly one
// HTTP/1.1 request.
//
// # Caveats
//
// Serve blocks for the life of the connection; it is safe to run many at once. The socketpairs
// of a connection are closed when it ends.
package h2edge
