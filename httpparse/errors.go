package httpparse

import "errors"

// Error is a parse rejection. Status is the HTTP status a server or proxy
// should answer with; Reason is a short human-readable cause. Errors are
// package-level sentinels, so returning and comparing them never allocates:
// compare with == or errors.Is.
//
// ParseResponse returns the same sentinels for a malformed upstream response;
// their Status then describes the fault as if the upstream were a client, and
// a proxy answers its own client with 502 Bad Gateway instead.
type Error struct {
	Status int
	Reason string
	msg    string
}

// Error returns the reason prefixed with "httpparse: ".
func (e *Error) Error() string { return e.msg }

func newError(status int, reason string) *Error {
	return &Error{Status: status, Reason: reason, msg: "httpparse: " + reason}
}

// ErrNeedMore reports that the buffer does not hold a complete element yet:
// read more bytes and call again with the longer buffer, from the same start.
// It is not a rejection; StatusOf returns 0 for it.
var ErrNeedMore = errors.New("httpparse: need more data")

// Request line and status line.
var (
	// ErrRequestLineTooLong rejects a request line longer than Limits.MaxRequestLine.
	ErrRequestLineTooLong = newError(414, "request line too long")
	// ErrTooManyEmptyLines rejects a message preceded by more than maxLeadingEmptyLines empty lines.
	ErrTooManyEmptyLines = newError(400, "too many empty lines before the start line")
	// ErrBadMethod rejects a method that is not a token (RFC 9110 §9.1).
	ErrBadMethod = newError(400, "malformed method")
	// ErrBadRequestLine rejects a request line that is not method SP request-target SP version.
	ErrBadRequestLine = newError(400, "malformed request line")
	// ErrBadTarget rejects a request-target that fits none of the four forms of RFC 9112 §3.2.
	ErrBadTarget = newError(400, "malformed request-target")
	// ErrBadVersion rejects an HTTP-version that is not "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3).
	ErrBadVersion = newError(400, "malformed HTTP version")
	// ErrVersionNotSupported rejects a well-formed version other than HTTP/1.0 and HTTP/1.1.
	ErrVersionNotSupported = newError(505, "HTTP version not supported")
	// ErrBadStatusLine rejects a response status line that is not version SP status SP reason (RFC 9112 §4).
	ErrBadStatusLine = newError(400, "malformed status line")
	// ErrBadStatus rejects a status code outside 100..599 (RFC 9110 §15).
	ErrBadStatus = newError(400, "malformed status code")
)

// Line endings and field lines.
var (
	// ErrBareLF rejects a LF that is not preceded by CR; see the package doc.
	ErrBareLF = newError(400, "bare LF line ending")
	// ErrBareCR rejects a CR that is not followed by LF (RFC 9112 §2.2).
	ErrBareCR = newError(400, "bare CR")
	// ErrObsFold rejects a field line that starts with whitespace: obs-fold (RFC 9112 §5.2)
	// or whitespace between the start line and the first field (RFC 9112 §2.2).
	ErrObsFold = newError(400, "obsolete line folding")
	// ErrSpaceBeforeColon rejects whitespace between a field name and the colon (RFC 9112 §5.1).
	ErrSpaceBeforeColon = newError(400, "whitespace before colon in field line")
	// ErrBadHeaderName rejects a field name that is empty or not a token (RFC 9110 §5.1).
	ErrBadHeaderName = newError(400, "malformed field name")
	// ErrBadHeaderValue rejects a field value holding NUL, CR or another control character (RFC 9110 §5.5).
	ErrBadHeaderValue = newError(400, "invalid character in field value")
	// ErrTooManyHeaders rejects more field lines than the caller's header slice can hold.
	ErrTooManyHeaders = newError(431, "too many header fields")
	// ErrHeaderTooLarge rejects a header section longer than Limits.MaxHeaderBytes.
	ErrHeaderTooLarge = newError(431, "header section too large")
)

// Host and connection semantics.
var (
	// ErrMissingHost rejects an HTTP/1.1 request without Host (RFC 9112 §3.2).
	ErrMissingHost = newError(400, "missing Host header")
	// ErrDuplicateHost rejects a request with more than one Host field line (RFC 9112 §3.2).
	ErrDuplicateHost = newError(400, "duplicate Host header")
	// ErrBadHost rejects a Host value or target authority that is not uri-host [":" port] (RFC 9110 §7.2).
	ErrBadHost = newError(400, "malformed Host")
	// ErrBadConnection rejects a Connection value that is not a list of tokens (RFC 9110 §7.6.1).
	ErrBadConnection = newError(400, "malformed Connection header")
)

// Message framing and smuggling defences (RFC 9112 §6).
var (
	// ErrBadContentLength rejects a Content-Length that is not 1*DIGIT within int64, or too many of them (RFC 9110 §8.6).
	ErrBadContentLength = newError(400, "malformed Content-Length")
	// ErrConflictingContentLength rejects Content-Length values that differ (RFC 9112 §6.3 point 5).
	ErrConflictingContentLength = newError(400, "conflicting Content-Length values")
	// ErrTEWithCL rejects a message with both Transfer-Encoding and Content-Length (RFC 9112 §6.3 point 3).
	ErrTEWithCL = newError(400, "both Transfer-Encoding and Content-Length")
	// ErrTENotChunked rejects a request whose Transfer-Encoding does not end in chunked (RFC 9112 §6.3 point 4).
	ErrTENotChunked = newError(400, "Transfer-Encoding does not end in chunked")
	// ErrBadTransferEncoding rejects a malformed Transfer-Encoding list, or chunked applied twice (RFC 9112 §6.1).
	ErrBadTransferEncoding = newError(400, "malformed Transfer-Encoding")
	// ErrUnsupportedTE rejects a request transfer coding other than chunked (RFC 9112 §6.1: 501).
	ErrUnsupportedTE = newError(501, "unsupported transfer coding")
	// ErrTEOnHTTP10 rejects an HTTP/1.0 request with Transfer-Encoding, whose framing is faulty (RFC 9112 §6.1).
	ErrTEOnHTTP10 = newError(400, "Transfer-Encoding in an HTTP/1.0 request")
)

// Chunked bodies (RFC 9112 §7.1).
var (
	// ErrBadChunkSize rejects a chunk-size that is not 1*HEXDIG.
	ErrBadChunkSize = newError(400, "malformed chunk size")
	// ErrChunkSizeOverflow rejects a chunk-size above 2^63-1 or longer than maxChunkSizeDigits digits.
	ErrChunkSizeOverflow = newError(400, "chunk size overflows")
	// ErrBadChunkExt rejects a chunk-ext that does not follow the grammar of RFC 9112 §7.1.1.
	ErrBadChunkExt = newError(400, "malformed chunk extension")
	// ErrChunkLineTooLong rejects a chunk-size line longer than maxChunkLine.
	ErrChunkLineTooLong = newError(400, "chunk size line too long")
	// ErrBadChunkEnd rejects chunk data that is not followed by CRLF.
	ErrBadChunkEnd = newError(400, "missing CRLF after chunk data")
	// ErrTrailerTooLarge rejects a trailer section longer than maxTrailerBytes or with more than maxTrailerFields fields.
	ErrTrailerTooLarge = newError(431, "trailer section too large")
)

// Request paths, as NormalizePath reads them (RFC 3986 §2.1, §5.2.4).
var (
	// ErrBadPercentEncoding rejects a "%" in a path that is not followed by two hex digits.
	ErrBadPercentEncoding = newError(400, "malformed percent-encoding in path")
	// ErrEncodedControl rejects an encoded control character (%00-%1F, %7F) in a path.
	ErrEncodedControl = newError(400, "encoded control character in path")
	// ErrPathAboveRoot rejects a path whose ".." segments climb above the root.
	ErrPathAboveRoot = newError(400, "path climbs above the root")
	// ErrBackslashInPath rejects a raw "\" in a path, which some backends read as "/".
	ErrBackslashInPath = newError(400, "backslash in path")
	// ErrDotSegmentParams rejects a "." or ".." segment with path parameters (";"), which servlet containers read as a dot segment.
	ErrDotSegmentParams = newError(400, "dot segment with parameters in path")
)

// StatusOf returns the HTTP status to answer for err: 0 for nil and
// ErrNeedMore, the Status of an *Error, and 400 for any other error.
func StatusOf(err error) int {
	if err == nil || err == ErrNeedMore {
		return 0
	}
	if e, ok := err.(*Error); ok {
		return e.Status
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 400
}
