package httpparse

// Limits bounds what a parse accepts. A nil *Limits, or a zero field, means
// the default. Values above 16 MiB are clamped to 16 MiB. A Limits is only
// read, so one value may be shared by every event loop.
type Limits struct {
	// MaxRequestLine is the longest request line (or status line), without
	// its CRLF; longer gets ErrRequestLineTooLong (414).
	MaxRequestLine int
	// MaxHeaderBytes is the longest header section: every field line and the
	// final empty line, with their CRLFs; longer gets ErrHeaderTooLarge (431).
	MaxHeaderBytes int
}

const (
	// DefaultMaxRequestLine stops a client from making the proxy buffer an
	// endless request line (memory exhaustion, slow-loris style); 414 past it.
	DefaultMaxRequestLine = 8 << 10
	// DefaultMaxHeaderBytes stops a client from making the proxy buffer and
	// rescan an endless header section; 431 past it.
	DefaultMaxHeaderBytes = 32 << 10

	// maxLimit keeps every offset of a head inside the int32 of a Span, with room to spare.
	maxLimit = 16 << 20

	// maxLeadingEmptyLines bounds the empty lines skipped before a start line
	// (RFC 9112 §2.2 allows ignoring "at least one"): a peer sending CRLF
	// forever must not hold a connection without ever making a request.
	maxLeadingEmptyLines = 4

	// maxContentLengthValues bounds the Content-Length values in one message,
	// counting list elements and repeated lines. Repeats have no legitimate
	// use; a long run of them is a probe for parsers that disagree on which
	// one wins (request smuggling).
	maxContentLengthValues = 8

	// maxTransferCodings bounds the codings listed in Transfer-Encoding. A long
	// list has no legitimate use and is a probe for smuggling through parsers
	// that look only at the first or last element.
	maxTransferCodings = 8
)

// values returns the effective limits.
func (l *Limits) values() (maxLine, maxHeader int) {
	maxLine, maxHeader = DefaultMaxRequestLine, DefaultMaxHeaderBytes
	if l != nil {
		if l.MaxRequestLine > 0 {
			maxLine = min(l.MaxRequestLine, maxLimit)
		}
		if l.MaxHeaderBytes > 0 {
			maxHeader = min(l.MaxHeaderBytes, maxLimit)
		}
	}
	return maxLine, maxHeader
}
