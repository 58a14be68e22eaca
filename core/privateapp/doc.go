// Package privateapp keeps the sessions of humans logged in to private apps
// (Otoroshi's "private apps": routes behind the AuthModule plugin) and checks
// them on the event loops.
//
// A session is created off the loops, by the login server (package auth),
// once a user proved who they are to an auth module. It is identified by 256
// random bits; the browser holds it in an HttpOnly cookie named after the
// module, as Otoroshi names it (oto-papps-basic-auth-<id>,
// oto-papps-global-oauth-<id>, oto-papps-ldap-auth-<id>), whose value is
// "<id>.<mac>": mac is an HMAC-SHA256 of the module id and the session id
// under a secret kept in the store, so a cookie is bound to its module and a
// forged or truncated value is refused before any lookup.
//
// # On the loop
//
// Check parses the Cookie fields of a request, verifies the MAC with a
// per-loop Scratch and looks the id up in an in-memory table of 64 shards,
// each a map under a read-write mutex that is only ever held for a map
// operation (never across I/O). It allocates nothing and never waits on a
// provider: a session is either in memory or absent.
//
// # Persistence
//
// With a bbolt database (Open), every session is written to the bucket
// privateapps_sessions when it is created and deleted at logout, by the
// caller's goroutine (the login server's handlers, never a loop), and all
// live sessions are loaded back at start: a restart keeps users logged in.
// Prune drops expired sessions from memory and disk. Sessions are per node:
// a cluster of Torii nodes does not share them (Otoroshi shares them through
// /api/cluster/sessions; Torii does not yet), so behind a load balancer either
// use affinity or log in on each node.
//
// # Caveats
//
// A *User is immutable once stored and safe to share between goroutines; a
// loop may keep the pointer for the lifetime of an exchange, after the
// session was deleted. A Scratch belongs to one goroutine.
package privateapp
