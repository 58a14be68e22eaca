// Package wire reads HTTP/1.1 responses off a connection for the load
// generator: it parses the status line and the framing headers, then skips
// the body (Content-Length, chunked, or until close) without keeping it.
//
// It is deliberately strict and small: a benchmark must notice a broken
// response rather than guess. Obsolete line folding, conflicting
// Content-Length values, Content-Length together with Transfer-Encoding, and
// transfer codings other than chunked are all errors.
//
// # Caveats
//
// A Reader owns one fixed buffer and is not safe for concurrent use; give
// each connection its own. Header bytes are not kept: only the status, the
// keep-alive decision and the body size survive a call to Next. A response
// head larger than the buffer is an error (ErrHeadTooLarge).
package wire
