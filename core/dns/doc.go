// Package dns keeps target host names resolved off the event loops: a Cache answers Lookup from
// memory (what route.Compile asks through route.CompileOptions.Names), and one resolver goroutine
// (Cache.Run) resolves the watched names in the background, honouring each answer's TTL within a
// floor and a ceiling, and calls Options.OnChange when an address appears, changes or goes away,
// so the caller recompiles and publishes a new snapshot like any other change.
//
// Go's resolver does not expose TTLs, so the Cache speaks DNS itself (RFC 1035 over UDP, TCP when
// an answer is truncated, built with golang.org/x/net/dns/dnsmessage) to the nameservers of
// /etc/resolv.conf, with its search list and ndots. /etc/hosts is read first, as the system
// resolver does. With no nameserver at all it falls back to net.DefaultResolver and refreshes at
// the floor.
//
// Choices, with their numbers:
//   - TTL floor 5 s (a TTL of 0 would otherwise mean a query per request), ceiling 5 min (a
//     record cached for a day would hide a migration for a day). Options.MinTTL, MaxTTL.
//   - A name that does not resolve (NXDOMAIN, no address) is tried again at the floor; its
//     targets are down meanwhile. A server that does not answer (timeout, SERVFAIL) keeps the
//     last good address (served stale, RFC 8767) and is asked again at the floor.
//   - IPv4 is preferred, as route.Compile does; among several addresses the one in use is kept
//     while the answer still holds it (no republish for DNS round-robin reordering), otherwise
//     the smallest.
//
// # Caveats
//
// Lookup, Watch, Status and Stats are safe from any goroutine and never touch the network; Lookup
// takes a mutex, so it is for compile time, not for an event loop. Run is the only goroutine that
// queries; OnChange runs on it and must not call Wait.
package dns
