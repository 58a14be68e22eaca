// Package tlsedge terminates TLS for the proxy. gnet has no TLS, and a handshake is too much CPU
// for an event loop, so each TLS connection is served by crypto/tls on goroutines: the accept
// loop takes a handshake slot (a bounded number run at once, each under a deadline), the
// handshake picks a certificate from the SNI table compiled at publish (Table), and the decrypted
// stream is handed to the event loops through one end of a Unix socketpair that the Enroll
// callback gives to the engine. A PROXY protocol v2 header written first on that socketpair
// carries the client's address, SNI, ALPN, TLS version and client certificate (package
// proxyproto), so the loop pipeline (routing, keys, quotas, events) serves the connection as it
// serves a plaintext one, with scheme https.
//
// The ticket keys that resume sessions rotate on a timer and are shared by every connection of
// the process (one tls.Config). Handshake failures are counted by reason (Stats) and logged at a
// bounded rate with the client's address.
//
// # Caveats
//
// Server methods are safe from any goroutine. SetTable swaps the table atomically: a handshake
// loads it once, so a certificate added, replaced or removed serves from the next handshake on
// and connections already established keep the certificate they were given. Each connection
// costs two goroutines (one per direction) plus crypto/tls's buffers; see docs/ARCHITECTURE.md
// for the measured memory per idle connection.
package tlsedge
