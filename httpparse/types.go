package httpparse

// Span is the half-open byte range [Start, End) of a field inside the buffer
// that was parsed. The zero Span is empty.
type Span struct {
	Start, End int32
}

// Bytes returns the bytes of s inside buf. The result aliases buf and is valid
// exactly as long as buf is.
func (s Span) Bytes(buf []byte) []byte { return buf[s.Start:s.End] }

// Len returns the length of s in bytes.
func (s Span) Len() int { return int(s.End - s.Start) }

// Header is one field line. Name and Value are spans into the parsed buffer;
// Value has its leading and trailing whitespace removed.
type Header struct {
	Name, Value Span
	// Flags classifies the field (hop-by-hop, framing ...); see the Flag* constants.
	Flags HeaderFlags
}

// HeaderFlags describes the role of a header field for a proxy.
type HeaderFlags uint8

const (
	// FlagHopByHop marks a field a proxy must not forward: Connection,
	// Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade (RFC 9110
	// §7.6.1), Trailer, Proxy-Authenticate, Proxy-Authorization, HTTP2-Settings
	// (RFC 7540 §3.2.1: connection-specific), and any field
	// named by a Connection option. The package doc says why.
	FlagHopByHop HeaderFlags = 1 << iota
	// FlagFraming marks Content-Length and Transfer-Encoding, which the proxy
	// regenerates for the next hop.
	FlagFraming
)

// Version is an HTTP version as major*10+minor: 10 for HTTP/1.0, 11 for HTTP/1.1.
type Version uint8

// The versions the parser accepts.
const (
	HTTP10 Version = 10
	HTTP11 Version = 11
)

// TargetForm is the form of a request-target (RFC 9112 §3.2).
type TargetForm uint8

// The four request-target forms.
const (
	FormOrigin    TargetForm = iota // "/path?query"
	FormAbsolute                    // "http://host/path?query"
	FormAuthority                   // "host:port", CONNECT only
	FormAsterisk                    // "*", OPTIONS only
)

// Framing says how a message body is delimited (RFC 9112 §6.3).
type Framing uint8

// The body framings.
const (
	FramingNone       Framing = iota // no body
	FramingLength                    // Content-Length bytes
	FramingChunked                   // chunked transfer coding
	FramingUntilClose                // read until the connection closes (responses only)
)

// Method is a known request method, or MethodOther; the bytes are in Request.Method.
type Method uint8

// Known methods. MethodOther is any other valid token.
const (
	MethodOther Method = iota
	MethodGet
	MethodHead
	MethodPost
	MethodPut
	MethodDelete
	MethodConnect
	MethodOptions
	MethodTrace
	MethodPatch
)

// Request is a parsed request head. All Spans point into the buffer given to
// ParseRequest. The caller sets Headers to a zero-length slice with the
// capacity it allows (for example arr[:0]) before parsing; more fields than
// cap(Headers) is an error with status 431.
type Request struct {
	Method     Span
	MethodKind Method
	Target     Span // the whole request-target as sent
	Form       TargetForm
	// Path and Query split an origin- or absolute-form target; Query excludes
	// the '?'. Path is empty for an absolute-form target without a path
	// ("http://a" or "http://a?q": read it as "/"), and both are empty for
	// the authority and asterisk forms.
	// For absolute form, Host is the authority of the target (RFC 9112 §3.2.2).
	Path, Query Span
	Host        Span // Host header value, or the authority of an absolute-form target
	Version     Version
	Headers     []Header

	// Framing of the request body: FramingNone, FramingLength or FramingChunked.
	Framing       Framing
	ContentLength int64 // valid when Framing == FramingLength

	KeepAlive bool // persistent connection after this exchange (RFC 9112 §9.3)
	Expect100 bool // "Expect: 100-continue" on HTTP/1.1
	Upgrade   bool // "Connection: upgrade" with an Upgrade header field, on HTTP/1.1
	// HeadLen is the bytes of the head including the final CRLF and any
	// empty lines skipped before the request line: the consumed count.
	HeadLen int
}

// Response is a parsed response head. All Spans point into the buffer given
// to ParseResponse; Headers is supplied by the caller as for Request.
type Response struct {
	Version Version
	Status  int
	Reason  Span
	Headers []Header

	// ContentLength is -1 when the field is absent.
	ContentLength int64
	// Chunked is set when Transfer-Encoding ends in chunked. Use BodyFraming
	// to know how the body is delimited.
	Chunked bool
	// KeepAlive reports whether the upstream connection may be reused after
	// this response (RFC 9112 §9.3), as far as the head tells; a body read
	// until close (BodyFraming == FramingUntilClose) rules reuse out too.
	KeepAlive bool
	HeadLen   int // bytes of the head including the final CRLF

	// teNotChunked is set when Transfer-Encoding is present but does not end
	// in chunked: the body then runs until the connection closes.
	teNotChunked bool
}
