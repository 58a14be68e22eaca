// Package core is Torii's proxy engine: it accepts HTTP/1.1 client
// connections on gnet v2 event loops, routes each request through the
// published route table, forwards it to a backend target over a pooled
// keep-alive connection and streams the response back.
//
// # The event-loop model
//
// One gnet engine runs N event loops (Config.Loops, GOMAXPROCS by default).
// A loop is one goroutine that owns a set of sockets and runs every callback
// for them: OnOpen, OnTraffic and OnClose. Client connections are accepted by
// Torii's own accept goroutines (one listener, or one SO_REUSEPORT listener per
// loop) and handed to the least busy loop with Enroll (accept.go: gnet's own
// acceptor would stop the engine on EMFILE).
// Upstream connections are registered on the loop of the client they serve
// (EventLoop.Enroll), so an exchange never crosses threads: the client's
// OnTraffic writes the request into the upstream connection's outbound buffer,
// and the upstream's OnTraffic writes the response into the client's. The
// connection context (gnet Conn.Context) is a *clientConn or an *upstreamConn,
// which is how one OnTraffic tells them apart.
//
// Each loop has a loop struct (found through a sync.Map keyed by the
// gnet.EventLoop when a client connects, then by pointer): its upstream pools
// (idle connections per target address, last in first out, bounded by
// Config.PoolIdleLimit and Config.PoolIdleTimeout), its timing wheel, free
// lists of connection structs and scratch buffers. Nothing there is shared,
// so the request path takes no lock. Configuration is one immutable Snapshot
// behind one atomic.Pointer, loaded once per request.
//
// What runs where:
//   - On a loop: parsing (httpparse), routing (route.Table.Match), target
//     choice (Compiled.Pick), head rewriting, body relaying, the timing wheel,
//     error pages. None of it blocks: no DNS (targets are resolved when the
//     table is compiled), no disk, no lock held across I/O, no remote call.
//   - On a dial goroutine, one per new upstream connection: net.Dialer with the
//     connect timeout, then Enroll. Its outcome comes back to the loop through
//     OnOpen, or through EventLoop.Execute for an error. Pooled connections
//     cost nothing.
//   - On gnet's ticker goroutine: OnTick only queues each loop's tick
//     (EventLoop.Execute); the wheel advances on the loop.
//   - On pump goroutines: exchanges and tunnels under backpressure, below.
//
// Only the dial and pump goroutines block, on their own sockets; a loop
// never does. Run keeps one P more than loops (procs.go): a loop waits in
// epoll_wait holding its P, and the ticker, dial and pump goroutines must
// not have to take it away.
//
// A request's path: OnTraffic(client) → Peek → httpparse.ParseRequest into
// the loop's request and fixed header array → Snapshot.Routes.Match → policy steps
// (see below) → Pick → take an idle pooled
// connection or dial one → write the rewritten head (and then the body bytes
// as they arrive) → Discard. The response: OnTraffic(upstream) → Peek →
// ParseResponse → write the rewritten head → relay the body by its framing →
// on the last byte, end the exchange (exchange.go: release the in-flight
// count, report the outcome with Compiled.Report, record the event), park
// the upstream connection in the pool and go on with the client's next
// pipelined request. One client connection has at most one exchange in
// flight; pipelined requests wait in gnet's inbound buffer and are answered
// in order. docs/ARCHITECTURE.md lists the walk function by function, and
// the file that owns each concern: exchange.go the end of an exchange,
// head.go every head written, pool.go the upstream pools, limits.go the
// gateway-wide limits, entry.go the way in for connections that are not
// the listener's (Server.Enroll, PROXY protocol).
//
// # Lifetime of peeked bytes
//
// Bytes returned by gnet's Peek are valid until the next Discard on that
// connection and never past the callback that peeked them. Every Span the
// parser returns points into them. So everything an exchange needs later is
// derived before the Discard: the rewritten request head is built into a
// buffer the connection holds for the exchange (kept for one retry), and the
// flags needed for the response (method, version, keep-alive, Accept:
// text/html) are copied into the connection struct. Nothing derived from
// peeked bytes is stored. An idle keep-alive connection holds neither the
// parsed head nor these buffers (idle.go): about 1.1 KiB of heap with gnet's conn.
//
// # Forwarding
//
// Hop-by-hop fields (RFC 9110 §7.6.1: the fixed list and the names listed in
// Connection) are dropped both ways. X-Forwarded-For, -Proto and -Host are set
// (client values are kept and appended to only with Config.TrustForwarded).
// Host is kept unless the route has the OverrideHost plugin. The proxy speaks
// HTTP/1.1 upstream and regenerates framing: Content-Length stays
// Content-Length, chunked bodies are checked with httpparse.ChunkedDecoder and
// passed through, a response framed by the backend's close is re-chunked for
// HTTP/1.1 clients (the client connection survives) and sent raw then closed
// for HTTP/1.0 ones, a chunked response to an HTTP/1.0 client is de-chunked
// and closed. 1xx interim responses are relayed (not to HTTP/1.0 clients),
// Expect: 100-continue goes through, HEAD and 304 responses carry no body. A
// 101 turns both connections into a tunnel. CONNECT is answered 405 unless
// Config.AllowConnect. A pooled connection that turns out closed before any
// response byte, for a request whose body was not sent yet, is retried once on
// a fresh connection.
//
// # Request hygiene
//
// Three rules keep the gateway and the backend reading a request the same
// way, so that nothing the policy steps check can be dodged by spelling:
//
// Paths (normalize.go). Before routing, the path is put in one normal form
// (httpparse.NormalizePath): encoded unreserved characters decoded ("%61"
// is "a"), other escapes upper-cased, dot segments removed, repeated
// slashes merged; the query is untouched. That form is what route matching,
// the ApikeyCalls include/exclude patterns, PublicPrivatePaths and the
// backend all see: /%61dmin, //admin, /./admin and /x/../admin take an
// /admin route with its API-key check, and its backend receives /admin. A
// malformed escape, an encoded control character (%00-%1F, %7F), a ".."
// above the root, a raw "\" or a "." or ".." segment with ";" parameters
// ("..;", read as ".." by servlet containers) is answered 400
// errors.bad.request. An encoded slash (%2F) stays encoded and is never a
// separator. The path is rewritten in place in the peeked head (a normal
// form is never longer); a clean path costs one scan and no write. Events
// record the URI as the client sent it and the target URI as forwarded.
// (How this compares with nginx and HAProxy: docs/ARCHITECTURE.md.)
//
// Header names (head.go). A request field whose name holds "_" is not
// forwarded unless Global.UnderscoresInHeaders: CGI-style backends map
// X-Api_Key and X-Api-Key to one variable, which would let a client slip a
// credential or an X-Forwarded-* value past the proxy. API-key extraction
// compares exact names, so an "_" spelling never authenticates. Response
// fields are not filtered; other token characters (".", "!"...) in names
// are kept.
//
// Trailers (trailer.go). Chunked trailer fields go through both ways (an
// HTTP/1.0 client's de-chunked body has none), except those RFC 9110 §6.5.1
// says cannot be processed after the content: framing (Content-Length,
// Transfer-Encoding, Trailer), Host, request modifiers (controls,
// conditionals, Accept*), authentication and cookies, response control
// data, content format (Content-Type, -Encoding, -Range, -Language,
// -Location); and the hop-by-hop fields, X-Forwarded-*, Forwarded and every
// Otoroshi-* field, which the gateway owns; in requests, "_" names as above.
// The trailer section is rewritten in place, on the loop and in pumps alike,
// without allocating.
//
// # Policy steps
//
// Before any byte goes to a backend (policy.go): the global settings of the
// snapshot (Global: the gateway-wide cap on requests in flight 429
// errors.cant.process.more.request, maintenance mode 503
// errors.service.in.maintenance, the IP allow and block lists 403
// errors.ip.address.not.allowed, the gateway-wide and per-address throttling
// quotas 429), then the route's API-key check
// (package apikey, with the per-route Policy BuildSnapshot compiled from the
// ApikeyCalls and PublicPrivatePaths plugins): extraction in Otoroshi's order,
// validation and quota counting against Config.Quotas, refusals
// 400/401/405/429 with Otoroshi's error ids and, for 429, Retry-After. The
// credential fields are left out of the forwarded head (never logged), and
// the response carries Otoroshi-Daily- and -Monthly-Calls-Remaining when a
// key was counted. Each loop owns one apikey.Scratch, so the common methods
// (bearer, client id, client id and secret, Basic) allocate nothing. A Sticky
// route's request without an otoroshi-tracking cookie gets a random id for
// Pick and the cookie on its response.
//
// # Retries and reloads
//
// An attempt that fails before any response byte (a connect failure; for an
// idempotent method with no body byte sent, also a close or a response
// timeout) is reported to the route's circuit breaker and retried on another
// target (Pick with the Tried mask skips tried targets, open circuits and
// unhealthy ones), up to backend.client.retries, after retry_initial_delay ×
// backoff_factor^(n-1) ms on the client's wheel timer (see retry.go). When
// attempts or targets run out, the last error is answered. Publish swaps the
// snapshot atomically: requests in flight finish on theirs, and at each
// loop's next tick the idle pooled connections to addresses the new table no
// longer has are closed (connections still busy are closed instead of
// pooled when their exchange ends).
//
// Errors are answered Otoroshi-style (JSON or, for Accept: text/html, a small
// page; Otoroshi-Error* headers): 404 no route, 502 refused connection or
// malformed response, 503 overload, no target or maintenance, 504 backend
// timeout, 400/401/403/405/429 from the policy steps, 408 a
// request head too slow, and the parser's status (400/414/431/501/505) for a
// malformed request, after which the connection closes. The pages are
// rendered once at init.
//
// # Timeouts
//
// Every connection struct embeds one timer of its loop's hashed timing wheel
// (512 slots of Config.TickInterval); arming is O(1) and allocation-free, and
// there is no timer goroutine per connection. A client's timer measures, in
// turn: the keep-alive idle time, the request head (slowloris), then the
// exchange phases (connect, a client silent mid-upload, the wait for the
// response head, a backend silent mid-body), each bounded by the exchange's
// total call deadline. Backend values come from the route's client config
// (connection_timeout, call_timeout, idle_timeout, call_and_stream_timeout)
// or the Config defaults. An idle pooled connection's timer closes it.
//
// # Backpressure
//
// gnet always reads a readable socket (it cannot pause a connection, gnet
// issue #722), so a fast backend sending to a slow client would pile the
// whole body into the client's outbound buffer, and a fast upload to a slow
// backend into the upstream's. When the receiving side's outbound buffer
// passes Config.HighWater (1 MiB), the exchange moves to a pump goroutine:
//
//  1. The sending side leaves the loop at once: its descriptor is duplicated
//     (Conn.Dup) into a blocking *net.TCPConn or, for a client enrolled over a
//     socketpair, *net.UnixConn (os.NewFile + net.FileConn), what gnet
//     had read but we had not consumed is copied aside, and gnet closes its
//     own descriptor, so gnet stops reading it and TCP flow control now holds
//     the peer.
//  2. The receiving side stays on the loop until gnet has flushed its
//     outbound buffer (checked at every tick), then leaves the same way: gnet
//     drops unsent bytes on close, so it must not go earlier.
//  3. The pump copies the rest of the body with blocking I/O (io.CopyN between
//     TCP connections splices on Linux; chunked bodies go through a 64 KiB
//     buffer and the decoder), bounded by the call deadline.
//  4. Afterwards the client connection is enrolled back into its loop
//     (EventLoop.Enroll) with its leftover bytes, and goes on with its next
//     request; for an upload, the upstream connection is enrolled back too and
//     the response comes back on the loop; after a download, the upstream
//     connection goes back to the pool when it is still reusable.
//
// Memory per exchange is thus about HighWater plus one read buffer, whatever
// the body size; the backpressure tests check RSS growth under 32 MiB for a
// 256 MiB body each way. Tunnels (101) use the same hand-over when one side
// falls behind, with one goroutine per direction.
//
// # Observation
//
// Each request gets a snowflake id from its loop's event.IDGen when its head
// is parsed. Unless Config.NoOtoroshiHeadersIn, the backend receives it as
// Otoroshi-Request-Id with Otoroshi-Proxied-Host (the client's Host) and
// Otoroshi-Request-Timestamp (a client's own copies of the three are
// dropped); unless Config.NoOtoroshiHeadersBack, the client receives
// Otoroshi-Request-Id, Otoroshi-Request-Timestamp, Otoroshi-Proxy-Latency
// (ms from the parsed head to the backend call) and
// Otoroshi-Upstream-Latency (ms from the backend call to its response
// head), and error pages carry the id.
//
// With Config.Events, every answered request, errors answered by the proxy
// included (gwError set), fills the client connection's event.Record as the
// exchange progresses (request fields and headers while the head is still
// peeked, status and sizes at the end) and pushes it into the loop's ring
// (Events.Ring(i) on loop i; pump goroutines use the hub's shared ring). An
// API key call carries the key's identity (one immutable event.Identity per
// key, built by Publish) and its remaining quotas. With Config.Metrics, the
// route's metric.RouteMetrics (attached to the snapshot by Publish, indexed
// by route, so never looked up by name on the loop) count the request and
// its total, backend and overhead durations and bytes; requests refused
// before routing count under metric.NoRouteID. The engine registers the
// gauges of open client connections, pooled upstream connections per
// target (published by each loop every second) and circuit breakers.
// Config.Live only rides along for the admin API. Everything is off when nil,
// and the hot path then pays one predictable branch per step (observe.go).
// Recording allocates nothing; a full ring drops the record and counts it.
// Data sizes count the heads and the bodies as relayed (a chunked body with
// its chunk framing), on the loop or by a pump.
//
// # Shutdown
//
// Shutdown (or the end of Run's context) marks the server draining: new
// connections are closed as they are accepted, idle keep-alive client and
// pooled connections are closed at the next tick, in-flight responses are
// sent with Connection: close; the engine stops when the last client
// connection is gone or the grace period ends.
//
// # Caveats
//
// All loop state (loop, clientConn, upstreamConn, the wheel) is touched only on
// its loop goroutine; other goroutines reach it only through
// EventLoop.Execute or Enroll. A pump goroutine owns its exchange's structs
// until it enrolls them back. Peeked bytes die at Discard or at the end of the
// callback (see above). While an exchange is in flight, a client's further
// pipelined bytes wait in gnet's inbound buffer; past 16 MiB (or 4 × HighWater)
// the client is cut off (gnet cannot stop reading it). A client that half-closes
// its side after sending a request is closed by gnet at the read EOF, which
// aborts its exchange.
// gnet closes a connection inside a Write that fails, so OnClose can run
// nested inside another connection's callback: every write goes through
// send, and its caller stops at once when it reports the connection closed;
// connection structs are recycled only at the next tick, never inside a
// callback. Publish may be called from any goroutine; a Snapshot must not be
// modified after it.
package core
