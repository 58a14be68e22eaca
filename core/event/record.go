package event

import (
	"net/netip"

	"github.com/torii-gateway/torii/httpparse"
)

// Arena limits. A Record never allocates: variable-length parts are copied
// into a fixed arena inside the slot and truncated at these limits, so a
// hostile client cannot make an event slot grow or the exporter read past it.
const (
	// ArenaSize is the byte capacity shared by host, URIs, method and headers.
	ArenaSize = 2048
	// MaxHostLen bounds the copied Host (a DNS name is at most 253 bytes).
	MaxHostLen = 255
	// MaxURILen bounds each copied URI; longer ones are cut (Truncated is set).
	MaxURILen = 512
	// MaxHeaders bounds the headers kept per direction; extra ones are skipped.
	MaxHeaders = 32
	// MaxHeaderNameLen and MaxHeaderValueLen bound each kept header field.
	MaxHeaderNameLen  = 64
	MaxHeaderValueLen = 256
	// maxMethodLen bounds an unknown method's copied token.
	maxMethodLen = 16
)

// Redacted replaces the value of a secret-bearing header in events.
const Redacted = "********"

// Flags describe a recorded exchange.
type Flags uint8

const (
	// FlagTLS: the client connection used TLS (to.scheme is https).
	FlagTLS Flags = 1 << iota
	// FlagTargetTLS: the backend connection used TLS (target.scheme is https).
	FlagTargetTLS
	// FlagChunked: the response to the client was chunked (responseChunked).
	FlagChunked
	// FlagError: the exchange failed in the gateway (err is true).
	FlagError
	// FlagTruncated: some variable-length part did not fit in the arena.
	FlagTruncated
)

// Identity is the API key or the private-app user that made a call, as shown in events. Build one per
// key when its snapshot is compiled, off the loop, and never modify it after:
// records keep the pointer until the exporter has encoded them.
type Identity struct {
	// Type is the identityType: "" is IdentityAPIKey.
	Type       string
	ClientID   string
	ClientName string
	Tags       []string
	Metadata   Pairs
}

// The identityType values of events.
const (
	IdentityAPIKey     = "APIKEY"     // an API key (ClientID, ClientName)
	IdentityPrivateApp = "PRIVATEAPP" // a human logged in through an auth module (email, name)
)

// Quotas are the API key counters after a call, with the field names of
// Otoroshi's remainingQuotas.
type Quotas struct {
	AuthorizedCallsPerWindow, ThrottlingCallsPerWindow, RemainingCallsPerWindow int64
	AuthorizedCallsPerDay, CurrentCallsPerDay, RemainingCallsPerDay             int64
	AuthorizedCallsPerMonth, CurrentCallsPerMonth, RemainingCallsPerMonth       int64
}

// Fields are the fixed-size parts of a Record, set directly by the loop.
// Strings must be immutable values that outlive the record (route ids and
// names from the snapshot, static error ids); they are referenced, not copied.
type Fields struct {
	ReqID    uint64 // the Otoroshi-Request-Id
	Start    int64  // Unix ns when the request's first byte was read (@timestamp, @callAt)
	Duration int64  // ns from Start to the last response byte (duration)
	Backend  int64  // ns spent on the backend call(s) (backendDuration); overhead = Duration-Backend
	DataIn   int64  // request bytes read from the client (data.dataIn)
	DataOut  int64  // response bytes written to the client (data.dataOut)
	Status   uint16 // status sent to the client
	// GRPCStatus is the gRPC status of the call plus one (grpc-status from the response's
	// trailers, or its headers for a trailers-only response; grpcStatus), 0 when none was seen.
	GRPCStatus uint8
	Method     httpparse.Method
	Version    httpparse.Version
	Attempts   uint8 // backend attempts (callAttempts)
	Flags      Flags
	From       netip.Addr // client address (from)

	RouteID    string    // @serviceId
	RouteName  string    // @service
	TargetHost string    // "host:port" of the backend that answered (target.host)
	GwError    string    // gateway error cause id such as "errors.request.timeout" (gwError), "" for none
	Identity   *Identity // API key, nil when the call used none (identity: null)
	// ClientCert is the client certificate of the TLS connection (clientCertChain and
	// clientCert), nil without one. Shared by the connection's records: never changed.
	ClientCert *ClientCert
	Quotas     Quotas // meaningful when Identity is not nil
}

// ClientCert is a client certificate presented on a TLS connection.
type ClientCert struct {
	Subject     string // RFC 2253 subject DN
	Fingerprint string // SHA-256, lower-case hex
	VerifiedBy  string // id of the store CA that verified it, "" when none did
}

type span struct{ off, n uint16 }

type hdrSpan struct {
	name, value span
	redacted    bool
}

// arena holds the variable-length parts of a Record.
type arena struct {
	used       uint16
	host       span
	uri        span
	targetURI  span
	method     span
	nIn, nOut  uint8
	noHeaders  bool
	headersIn  [MaxHeaders]hdrSpan
	headersOut [MaxHeaders]hdrSpan
	buf        [ArenaSize]byte
}

// Record is one proxied exchange, filled by the loop in a ring slot and
// encoded as a GatewayEvent by the exporter goroutine. Its size is fixed;
// the setters copy into its arena and never allocate.
type Record struct {
	Fields
	a arena
}

// Reset empties a Record the caller owns (see Ring.Push) for a new exchange;
// captureHeaders should be the ring's CapturesHeaders. The arena bytes are
// not cleared, only its spans. 0 allocs.
func (r *Record) Reset(captureHeaders bool) { r.reset(captureHeaders) }

// reset prepares a reused slot.
func (r *Record) reset(captureHeaders bool) {
	r.Fields = Fields{}
	r.a.used, r.a.nIn, r.a.nOut = 0, 0, 0
	r.a.host, r.a.uri, r.a.targetURI, r.a.method = span{}, span{}, span{}, span{}
	r.a.noHeaders = !captureHeaders
}

// copyFrom makes r a copy of src, copying only the used part of the arena.
func (r *Record) copyFrom(src *Record) {
	r.Fields = src.Fields
	a, b := &r.a, &src.a
	a.used, a.host, a.uri, a.targetURI, a.method = b.used, b.host, b.uri, b.targetURI, b.method
	a.nIn, a.nOut, a.noHeaders = b.nIn, b.nOut, b.noHeaders
	copy(a.headersIn[:b.nIn], b.headersIn[:b.nIn])
	copy(a.headersOut[:b.nOut], b.headersOut[:b.nOut])
	copy(a.buf[:b.used], b.buf[:b.used])
}

// put copies up to limit bytes of b into the arena.
func (r *Record) put(b []byte, limit int) span {
	if len(b) > limit {
		b = b[:limit]
		r.Flags |= FlagTruncated
	}
	free := ArenaSize - int(r.a.used)
	if len(b) > free {
		b = b[:free]
		r.Flags |= FlagTruncated
	}
	s := span{off: r.a.used, n: uint16(len(b))}
	copy(r.a.buf[r.a.used:], b)
	r.a.used += uint16(len(b))
	return s
}

func (r *Record) get(s span) []byte { return r.a.buf[s.off : s.off+s.n] }

// SetHost copies the request's Host (to.host), at most MaxHostLen bytes.
func (r *Record) SetHost(b []byte) { r.a.host = r.put(b, MaxHostLen) }

// SetURI copies the request-target as received (to.uri), at most MaxURILen bytes.
func (r *Record) SetURI(b []byte) { r.a.uri = r.put(b, MaxURILen) }

// SetTargetURI copies the path sent to the backend (target.uri), at most MaxURILen bytes.
func (r *Record) SetTargetURI(b []byte) { r.a.targetURI = r.put(b, MaxURILen) }

// SetMethodToken copies the method token; needed only when Method is MethodOther.
func (r *Record) SetMethodToken(b []byte) { r.a.method = r.put(b, maxMethodLen) }

// Host returns the copied Host. Like URI, TargetURI and MethodToken, the
// result aliases the record: valid until the record is reset, or for a ring
// slot, until the consumer releases it.
func (r *Record) Host() []byte { return r.get(r.a.host) }

// URI returns the copied request-target; see Host for its lifetime.
func (r *Record) URI() []byte { return r.get(r.a.uri) }

// TargetURI returns the copied backend path; see Host for its lifetime.
func (r *Record) TargetURI() []byte { return r.get(r.a.targetURI) }

// MethodToken returns the copied method token; see Host for its lifetime.
func (r *Record) MethodToken() []byte { return r.get(r.a.method) }

// AddHeaderIn keeps one request header (headers); AddHeaderOut one response
// header (headersOut). Secret-bearing fields (see isSecretHeader) keep their
// name with the value Redacted, and their value is never copied. Headers past
// MaxHeaders or past the arena's end are skipped and FlagTruncated set. They
// are no-ops when the ring does not capture headers.
func (r *Record) AddHeaderIn(name, value []byte) {
	if r.a.noHeaders {
		return
	}
	if int(r.a.nIn) >= MaxHeaders || !r.addHeader(&r.a.headersIn[r.a.nIn], name, value) {
		r.Flags |= FlagTruncated
		return
	}
	r.a.nIn++
}

// AddHeaderOut: see AddHeaderIn.
func (r *Record) AddHeaderOut(name, value []byte) {
	if r.a.noHeaders {
		return
	}
	if int(r.a.nOut) >= MaxHeaders || !r.addHeader(&r.a.headersOut[r.a.nOut], name, value) {
		r.Flags |= FlagTruncated
		return
	}
	r.a.nOut++
}

func (r *Record) addHeader(h *hdrSpan, name, value []byte) bool {
	if len(name) > MaxHeaderNameLen {
		name = name[:MaxHeaderNameLen]
		r.Flags |= FlagTruncated
	}
	h.redacted = isSecretHeader(name)
	if h.redacted {
		value = nil
	} else if len(value) > MaxHeaderValueLen {
		value = value[:MaxHeaderValueLen]
		r.Flags |= FlagTruncated
	}
	if len(name)+len(value) > ArenaSize-int(r.a.used) {
		return false
	}
	h.name = r.put(name, MaxHeaderNameLen)
	h.value = r.put(value, MaxHeaderValueLen)
	return true
}

// AddRequestHeaders keeps the headers of a parsed request; buf is the buffer
// it was parsed from. AddResponseHeaders does the same for the response
// headers sent to the client.
func (r *Record) AddRequestHeaders(buf []byte, hs []httpparse.Header) {
	for i := range hs {
		if r.a.noHeaders {
			return
		}
		r.AddHeaderIn(hs[i].Name.Bytes(buf), hs[i].Value.Bytes(buf))
	}
}

// AddResponseHeaders: see AddRequestHeaders.
func (r *Record) AddResponseHeaders(buf []byte, hs []httpparse.Header) {
	for i := range hs {
		if r.a.noHeaders {
			return
		}
		r.AddHeaderOut(hs[i].Name.Bytes(buf), hs[i].Value.Bytes(buf))
	}
}

// secretHeaders are the lower-case names whose values never reach an event:
// credentials (API keys, bearer and basic tokens, client secrets) and
// session cookies.
var secretHeaders = [...]string{
	"authorization",
	"proxy-authorization",
	"cookie",
	"set-cookie",
	"x-api-key",
	"otoroshi-token",
	"otoroshi-authorization",
	"otoroshi-client-secret",
	"otoroshi-bearer",
	"otoroshi-state",
	"otoroshi-state-resp",
	"otoroshi-claim",
}

// isSecretHeader reports whether name (any case) is one of secretHeaders.
func isSecretHeader(name []byte) bool {
	for _, s := range secretHeaders {
		if len(s) == len(name) && httpparse.EqualFold(name, s) {
			return true
		}
	}
	return false
}
