// Package route compiles Otoroshi Route entities into an immutable routing table and picks
// a target for each request: host and path matching, load balancing, active health checks,
// passive ejection through per-target circuit breakers, and retry policy helpers.
//
// The flow is: DecodeRoutes (Otoroshi JSON; unknown members kept in Extra maps for a
// lossless round trip) → Compile (validation naming route and field, conflict detection,
// DNS resolution, indexing) → a *Table that the engine publishes behind its one
// atomic.Pointer → per request Table.Match, Compiled.Pick, Upstream.Acquire,
// Compiled.RewritePath, then Upstream.Release and Compiled.Report.
//
// # Matching
//
// A domain is "host" or "host/path". Hosts compare case-insensitively, with the Host
// port and one trailing dot ignored. Exact hosts are looked up first (an open-addressing
// table keyed by xxhash, host bytes always compared), then wildcard hosts from the longest
// pattern to the shortest: "*.suffix" (any subdomain, one hash lookup per label of the
// Host) and other patterns such as "api-*.x.com" ('*' is any run of bytes, as in
// Otoroshi's regex; scanned in order, so prefer the "*." form for many domains); then the
// catch-all "*". Paths are raw byte prefixes, as Otoroshi's startsWith: "/api" also takes
// "/apikeys"; with frontend.exact the path must be equal. Match itself does no
// percent-decoding or dot-segment removal: the engine hands it the normal form of the path
// (httpparse.NormalizePath), the one it also forwards. Within a host the longest prefix wins, among the routes of that
// prefix the one with the most matchers that hold (headers: exact value, name
// case-insensitive; query: raw exact value; methods); when no path of a host matches, the
// next, less specific host is tried.
//
// # Targets and load balancing
//
// Load balancing uses Otoroshi's names (see Balancing). A target's weight repeats it in a
// smooth weighted round-robin sequence computed at compile time (nginx's algorithm, so
// weights 5,1,1 give a a b a c a a, not bursts; a weight is 0 to 1000000, 0 meaning never
// picked); hash-based types index that same
// sequence. Backups serve only when no primary is usable; Pick returns nil when nothing
// is. Runtime state (health, circuit breaker, latency EWMA, in-flight count) lives in a
// Registry keyed by Upstream.Key (route id, target id, address), outside the Table, so
// it survives reloads; Registry.Prune drops the state of removed targets.
//
// Circuit breaker, per (route, target): max_errors failures within one sample_interval
// window open it; after sample_interval one trial request is let through (half-open); a
// success closes it, a failure opens it again. max_errors 0 disables it. Active health
// checks (HealthChecker) GET health_check.url on each target: a status listed in
// unhealthyStatuses is unhealthy; otherwise, when healthyStatuses is set, healthy iff
// listed; otherwise healthy iff 2xx or 3xx. An absolute URL only contributes its path and
// query: checks always go to the target's address, with its hostname:port as Host.
//
// # Differences from Otoroshi
//
// A TLS target (tls: true) carries an interned TLS profile (Upstream.TLS, package upstls) made
// of its hostname (the SNI) and its tls_config; a target whose protocol is HTTP/2.0 is
// reached in HTTP/2 (Upstream.H2: h2c, or h2 with ALPN for a TLS target); other protocols
// (HTTP/3.0) are used as HTTP/1.1 with a warning; backend.rewrite is
// ignored with a warning; "**" in a host is rejected; a route has at most 64 targets; an
// unknown load-balancing type is RoundRobin with a warning; Sticky without an
// otoroshi-tracking cookie hashes PickInput.Tracking (the id the engine sets); plugins
// Torii does not know are kept and listed in Table.Warnings. A target's ip_address, when
// set, is used instead of resolving its hostname, as Otoroshi does. With
// CompileOptions.Names, a hostname that does not resolve (yet) makes its target down
// (DownUnresolved) with a warning instead of failing the compile.
//
// # Caveats
//
// A Table and its Compiled and Upstream values are immutable and safe for any number of
// goroutines; Compile deep-copies its input, and nothing in a Table refers to request
// bytes. Match, Pick, RewritePath, Report, Acquire and Release do not allocate, take no
// lock and do no I/O: they may run on event loops. The request and buffer given to Match
// and Pick are only read during the call; RewritePath's result aliases dst. Compile
// resolves hostnames and may block for up to CompileOptions.ResolveTimeout per hostname:
// call it off the event loops, with the same Registry every time. Registry.Now and
// Registry.OnEvent must be set before the first Compile; OnEvent runs synchronously, from
// several goroutines at once (event loops reporting failures, health-check goroutines),
// and must neither block nor assume a single caller. HealthChecker runs its own
// goroutines; Update and CheckNow may be called from any goroutine. An Upstream obtained
// from an old Table stays valid after a reload: call Release on the same Upstream as
// Acquire, and Report through the Compiled that picked it.
package route
