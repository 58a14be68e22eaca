package route

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/torii-gateway/torii/core/upstls"
	"github.com/torii-gateway/torii/internal/pmap"
)

// Table is an immutable routing snapshot built by Compile or With. It is safe for any
// number of concurrent readers; a new configuration is a new Table, published by the engine
// behind its one atomic.Pointer. A table made by With shares all its unchanged parts (host
// nodes, index pages, persistent maps) with the table it came from: see persist.go.
type Table struct {
	// Read by Match, first.
	exact    hostIndex  // lower-case host → paths
	wild     hostIndex  // "*.x.com" stored as ".x.com"
	wildLens [4]uint64  // bit n set: some wildcard suffix has length n
	globs    []globHost // hosts with a '*' elsewhere ("api-*.x.com"), longest first
	any      *hostNode  // domain "*"

	recs      pmap.Map[*routeRec] // every route by id, disabled ones too
	slots     slotVec             // the enabled routes (first domain's entry) by Index
	upstreams pmap.Map[*Upstream] // by Upstream.Key
	addrs     pmap.Map[int32]     // addrKey → upstreams up with that address (With)
	addrIdx   hostIndex           // the addrKeys of addrs, for HasAddr on the loops
	hostRefs  pmap.Map[int32]     // hostname asked of CompileOptions.Names → routes asking
	down      pmap.Map[bool]      // ids of the routes with a target that did not resolve
	wildCount *[256]int32         // wildcard suffixes by length (wildLens as counts)
	nroutes   int                 // enabled routes
	nentries  int                 // their domain entries
	// nslots is one more than the largest Compiled.Index ever given in this table's line;
	// free holds the slots of removed routes, reused (last freed first) by later tables.
	nslots int
	free   *freeSlot
	delta  *Delta // what With changed; nil for Compile

	serial uint64 // tells tables apart for DeltaFrom

	// Flat lists, made on first use.
	routeList atomic.Pointer[[]*Compiled]
	warnList  atomic.Pointer[[]Warning]
	hostList  atomic.Pointer[[]string]
}

// tableSerial numbers tables.
var tableSerial atomic.Uint64

// Delta is what Table.With changed, against the table it was called on. A route that was
// replaced (put again) or compiled again (a target that did not resolve) is in Removed with
// its old form and in Added with its new one, with the same Index: apply Removed first.
// The slices must not be modified.
type Delta struct {
	// Removed are the routes (their first domain's entry) of the old table that the new
	// one does not have as they were: deleted, disabled, replaced or recompiled.
	Removed []*Compiled
	// Added are the routes of the new table that the old one did not have as they are.
	Added []*Compiled
	// HostsAdded and HostsRemoved are the changes to Hostnames, sorted.
	HostsAdded, HostsRemoved []string

	from uint64 // serial of the table With was called on
}

// hostNode holds the paths of one host (or wildcard suffix). It is laid out to fill two
// cache lines in the common case: the host bytes inline (compared on every lookup), the
// path set and, inline too, its prefix group when the host has just one.
type hostNode struct {
	keyLen uint8               // len(key) in use, or longHost when the host is in ext
	key    [inlineHostLen]byte // the host, when it fits
	paths  pathSet
	inline [1]prefixGroup // backs paths.prefixes when the host has one prefix
	ext    *hostExt       // nil unless the host is long or shares its hash with another
}

// inlineHostLen is the longest host kept inside its hostNode (sized so that the node is
// 128 bytes); longer hosts are compared through hostExt.
const inlineHostLen = 39

// longHost in hostNode.keyLen means the host is in ext.host.
const longHost = 0xff

// globHost is a host pattern with a '*' that is not a leading "*.", and its paths.
type globHost struct {
	pattern string
	tail    string // the literal after the last '*': a cheap test before globMatch
	node    *hostNode
}

// hostExt holds what few hostNodes need.
type hostExt struct {
	host string    // a host longer than inlineHostLen
	next *hostNode // next host with the same xxhash
}

func newHostNode(host string) *hostNode {
	n := &hostNode{}
	if len(host) <= inlineHostLen {
		n.keyLen = uint8(copy(n.key[:], host))
	} else {
		n.keyLen = longHost
		n.ext = &hostExt{host: host}
	}
	return n
}

// name returns the host of n (build time and tests).
func (n *hostNode) name() string {
	if n.keyLen == longHost {
		return n.ext.host
	}
	return string(n.key[:n.keyLen])
}

// is reports whether n is the node of host h. 0 allocs.
func (n *hostNode) is(h []byte) bool {
	if n.keyLen == longHost {
		return n.ext.host == string(h)
	}
	return int(n.keyLen) == len(h) && string(n.key[:n.keyLen]) == string(h)
}

// isString is is for a string host (build time). 0 allocs.
func (n *hostNode) isString(h string) bool {
	if n.keyLen == longHost {
		return n.ext.host == h
	}
	return int(n.keyLen) == len(h) && string(n.key[:n.keyLen]) == h
}

// nextNode returns the next host with the same hash.
func (n *hostNode) nextNode() *hostNode {
	if n.ext == nil {
		return nil
	}
	return n.ext.next
}

// chain links n in front of head (same hash).
func (n *hostNode) chain(head *hostNode) {
	if n.ext == nil {
		n.ext = &hostExt{}
	}
	n.ext.next = head
}

// Warning is a non-fatal finding of Compile: an unsupported plugin, an unknown
// load-balancing type, a setting Torii ignores.
type Warning struct {
	RouteID, Field, Message string
}

// String formats the warning for logs.
func (w Warning) String() string {
	return fmt.Sprintf("route %q: %s: %s", w.RouteID, w.Field, w.Message)
}

// Warnings returns what Compile and With reported without failing, by route id. The
// first call on a table costs a pass over its routes (RouteWarnings does not). The slice
// must not be modified.
func (t *Table) Warnings() []Warning {
	if t == nil {
		return nil
	}
	return *lazy(&t.warnList, func() []Warning {
		var out []Warning
		for _, r := range t.recs.All() {
			out = append(out, r.warnings()...)
		}
		return out
	})
}

// RouteWarnings returns the warnings of the route id (enabled or not). O(log n). The slice
// must not be modified.
func (t *Table) RouteWarnings(id string) []Warning {
	if t == nil {
		return nil
	}
	r, _ := t.recs.Get(id)
	if r == nil {
		return nil
	}
	return r.warnings()
}

// Hostnames returns the target hostnames that Compile asked of CompileOptions.Names (resolved
// or not), sorted: the names a resolver must keep fresh for this table. The first call on a
// table costs a pass over the names (Delta has the changes). The slice must not be modified.
func (t *Table) Hostnames() []string {
	if t == nil {
		return nil
	}
	return *lazy(&t.hostList, func() []string {
		out := make([]string, 0, t.hostRefs.Len())
		for h := range t.hostRefs.All() {
			out = append(out, h)
		}
		return out
	})
}

// Routes returns one Compiled per enabled route (its first domain's entry), by Index:
// for a table from Compile, that is input order. The first call on a table costs a pass
// over the routes: per-write code should use DeltaFrom, RouteAt and Route instead. The
// slice must not be modified.
func (t *Table) Routes() []*Compiled {
	if t == nil {
		return nil
	}
	return *lazy(&t.routeList, func() []*Compiled {
		out := make([]*Compiled, 0, t.nroutes)
		for _, chunk := range t.slots.dir {
			for _, c := range chunk {
				if c != nil {
					out = append(out, c)
				}
			}
		}
		return out
	})
}

// lazy returns the value in p, made by make on first use (by one caller or a few racing
// ones: the first stored wins).
func lazy[T any](p *atomic.Pointer[T], make func() T) *T {
	if v := p.Load(); v != nil {
		return v
	}
	v := make()
	p.CompareAndSwap(nil, &v)
	return p.Load()
}

// Len returns the number of enabled routes.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return t.nroutes
}

// Slots returns one more than the largest Compiled.Index of the table (or of a table it
// was made from with With): the length of a slice indexed by Index. Some indexes in
// [0, Slots) may be unused (RouteAt returns nil for them).
func (t *Table) Slots() int {
	if t == nil {
		return 0
	}
	return t.nslots
}

// RouteAt returns the route whose Index is i, or nil when no route has it. O(1).
func (t *Table) RouteAt(i int) *Compiled {
	if t == nil {
		return nil
	}
	return t.slots.at(i)
}

// Delta returns what With changed to make t, or nil when t comes from Compile.
func (t *Table) Delta() *Delta {
	if t == nil {
		return nil
	}
	return t.delta
}

// DeltaFrom returns what With changed to make t when it was called on prev, or nil when t
// was not made from prev by one With (then compare the tables in full).
func (t *Table) DeltaFrom(prev *Table) *Delta {
	if t == nil || prev == nil || t.delta == nil || t.delta.from != prev.serial {
		return nil
	}
	return t.delta
}

// Route returns the compiled route with that id (enabled routes only), or nil. O(log n).
func (t *Table) Route(id string) *Compiled {
	if t == nil {
		return nil
	}
	if r, ok := t.recs.Get(id); ok && len(r.entries) > 0 {
		return r.entries[0]
	}
	return nil
}

// HasTarget reports whether the table has an upstream with that Upstream.Key. The engine
// uses it (or HasAddr) to drain and close pools of targets a new table removed. O(log n).
func (t *Table) HasTarget(key string) bool {
	return t != nil && t.upstreams.Has(key)
}

// HasAddr reports whether some upstream of the table, not down, has that address (its
// zone aside). O(log n), 0 allocs.
func (t *Table) HasAddr(a netip.AddrPort) bool {
	if t == nil {
		return false
	}
	var b [addrKeyLen]byte
	addrKey(&b, a)
	return t.addrIdx.get(b[:]) != nil
}

// Compiled is one enabled route as matched through one of its domains. The Compiled values
// of the domains of a route share their targets and load-balancing state. Immutable, safe
// for concurrent use; valid for as long as the engine holds the Table (or longer: it does
// not refer back to the Table).
type Compiled struct {
	ID, Name string
	Route    *Route       // source entity (a private copy owned by the Table)
	Client   ClientConfig // backend.client, validated
	Domain   string       // the domain entry this value was compiled from, lower-cased
	Prefix   string       // path prefix of Domain ("/" when the domain has no path)
	Exact    bool         // frontend.exact: the path must equal Prefix
	Steps    []Step       // enabled plugins in order; see Step.Supported
	// Index is the slot of the route, the same for all its domains and below
	// Table.Slots(): per-route state can live in a slice instead of a map keyed by ID.
	// Compile numbers the routes from 0 in input order; With keeps the Index of a route
	// that stays (even when it is replaced), and gives a new route the slot of a route
	// removed by an earlier With, or a new one.
	Index int

	stripPath bool
	root      string
	match     matchers
	pool      *pool
	canary    *canary // CanaryMode, or nil
}

// Upstreams returns the route's targets in declaration order (index = bit in
// PickInput.Tried). The slice must not be modified.
func (c *Compiled) Upstreams() []Upstream { return c.pool.ups }

// HealthCheck returns the route's active health check, or nil when it has none or it is
// disabled.
func (c *Compiled) HealthCheck() *HealthCheck { return c.pool.hc }

// Balancing returns the load-balancing algorithm actually used (unknown types are
// RoundRobin).
func (c *Compiled) Balancing() Balancing { return c.pool.lb }

// Upstream is one compiled target. Its runtime state (health, circuit breaker, latency
// EWMA, in-flight count) lives in the Registry under Key and survives reloads.
type Upstream struct {
	ID       string         // target id from the route
	Key      string         // registry key: `"<route id>"/"<target id>"@<addr>` (ids quoted)
	Addr     netip.AddrPort // resolved at compile time
	HostPort string         // "hostname:port", for the Host header when it is rewritten
	Weight   int
	Backup   bool
	Target   *Target // source entity
	// Down, when not empty, says why the target takes no request whatever its health
	// (DownUnresolved); Addr is then invalid.
	Down string
	// TLS, for a target with tls: true, is its interned TLS client profile (server name and
	// tls_config); nil for plaintext.
	TLS *upstls.Profile
	// H2: the target's protocol is HTTP/2.0: the engine reaches it through an HTTP/2 bridge
	// (package core/h2up), h2c for plaintext, h2 (ALPN) with TLS.
	H2 bool

	state *TargetState
}

// State returns the runtime state of the upstream.
func (u *Upstream) State() *TargetState { return u.state }

// Acquire counts one more request in flight to u (LeastConnections, PowerOfTwoRandomChoices).
// Call Release exactly once when the exchange ends. Safe from any goroutine; 0 allocs.
func (u *Upstream) Acquire() { u.state.inflight.Add(1) }

// Release ends a request counted by Acquire.
func (u *Upstream) Release() { u.state.inflight.Add(-1) }

// Report records the outcome of one call to u, which Pick returned from c: ok=false feeds
// the circuit breaker (connect failure, timeout, broken response), ok=true closes a
// half-open circuit and feeds the latency EWMA. Safe from any goroutine; 0 allocs.
func (c *Compiled) Report(u *Upstream, ok bool, latency time.Duration) {
	if u == nil {
		return
	}
	if ok {
		u.state.observe(latency)
		u.state.success()
		return
	}
	u.state.failure(c.Client.MaxErrors, c.pool.interval)
}

// paddedUint64 is an atomic counter alone on its cache line.
type paddedUint64 struct {
	_ [cacheLine]byte
	atomic.Uint64
	_ [cacheLine - 8]byte
}
