// Package route compiles Otoroshi Route entities into an immutable routing table, and picks
// a target for each request: host and path matching, load balancing, active health checks,
// passive ejection through per-target circuit breakers, and retry policy helpers.
//
// The flow is: DecodeRoutes (Otoroshi JSON, unknown members kept for a lossless round
// trip) → Compile (validation, conflict detection, DNS resolution, indexing) → a *Table the
// engine publishes behind its one atomic.Pointer → per request Table.Match, Compiled.Pick,
// Compiled.RewritePath, Upstream.Acquire/Release and Compiled.Report.
//
// Matching follows Otoroshi: a domain is "host" or "host/path"; hosts compare
// case-insensitively with the Host port ignored; exact hosts (an xxhash-keyed map) come
// before "*.suffix" wildcards (longest suffix first, one hash lookup per label), which come
// before the catch-all domain "*". Paths are raw byte prefixes, as Otoroshi's
// startsWith: "/api" also takes "/apikeys"; with frontend.exact the path must be equal.
// There is no percent-decoding or dot-segment removal. The longest prefix whose headers
// (exact value), query (raw exact value) and methods matchers hold wins.
//
// Load balancing uses Otoroshi's names (see Balancing). Weights repeat a target in a smooth
// weighted round-robin sequence computed at compile time; backups serve only when no
// primary is usable. Runtime state lives in a Registry keyed by Upstream.Key (route id,
// target id, address), outside the Table, so that it survives reloads.
//
// Deliberate differences from Otoroshi: TLS targets are rejected (not supported by the
// engine yet); targets other than HTTP/1.x are used as HTTP/1.1 with a warning;
// backend.rewrite is ignored with a warning; only a leading "*." host wildcard is
// accepted; a route has at most 64 targets; an unknown load-balancing type is RoundRobin
// with a warning; plugins Torii does not know are kept and listed in Table.Warnings.
//
// # Caveats
//
// A Table and its Compiled and Upstream values are immutable and safe for any number of
// goroutines; nothing in them refers to request bytes. Match, Pick, RewritePath, Report,
// Acquire and Release do not allocate, take no lock and do no I/O: they may run on event
// loops. The request and buffer handed to Match and Pick are only read during the call.
// Compile resolves hostnames and may block for seconds: call it off the event loops, with
// the same Registry every time. Registry.OnEvent runs synchronously in whichever goroutine
// caused the transition (possibly an event loop) and must not block. HealthChecker runs
// its own goroutines; Update may be called from any goroutine. An Upstream obtained from
// an old Table stays valid after a reload; call Release on the same Upstream as Acquire.
package route
