// Package upstls speaks TLS to backend targets for the engine (route targets with `tls: true`
// and Otoroshi's `tls_config`).
//
// The event loops never run a handshake. A dial goroutine (Dial) connects over TCP, runs the
// crypto/tls client handshake with the connect timeout, then creates a Unix socketpair: one end
// is returned to the caller, which enrolls it into its loop as the upstream connection (a
// syscall.Conn, exactly like a plaintext TCP connection), the other end is relayed to the TLS
// connection by two goroutines. The loop therefore writes and reads plaintext HTTP/1.1 and pools
// the socketpair end like any keep-alive connection; the pool key includes the TLS profile id
// (Intern) so a TLS and a plaintext connection to one address are never mixed.
//
// A Profile is one distinct TLS configuration (server name + tls_config). Profiles are interned
// process-wide (Intern): the same configuration always gets the same id and the same session
// cache, so reloading the routes keeps pooled connections and TLS session resumption.
//
// Certificates named by id in tls_config (client certificates in certs, CAs in trusted_certs)
// come from the certificate store published with SetStore; they are looked up at dial time, so
// a certificate replaced in the store is used by the next new connection without a route
// recompile.
//
// Semantics of tls_config (Otoroshi's MtlsConfig): enabled=false verifies the backend against
// the system roots and the target's hostname; enabled=true adds the client certificates of certs
// and, when trusted_certs is not empty, verifies against those CAs only; loose keeps the chain
// verification but not the hostname check; trust_all verifies nothing (the connection is still
// encrypted). SNI is the target's hostname, unless it is an IP address.
//
// # Caveats
//
// Dial, Intern and SetStore are safe from any goroutine. Dial blocks: call it off the loops.
// A dial error that is a verification failure is recognised by Reason.
package upstls
