package wire

import (
	"bytes"
	"fmt"
	"io"
)

// MinBufferSize is the smallest buffer NewReader accepts; response heads
// larger than the buffer are rejected, so this is also the head size limit.
const MinBufferSize = 4 << 10

// maxChunkLine bounds a chunk-size line (size, extensions, CRLF), so a peer
// cannot make the reader buffer an endless line.
const maxChunkLine = 1 << 10

// Response is what the reader keeps of one response.
type Response struct {
	Status    int
	KeepAlive bool  // false when the server will close, or the body ran until close
	BodyLen   int64 // body bytes skipped (decoded size for chunked bodies)
}

// Reader reads responses from one connection.
type Reader struct {
	r          io.Reader
	buf        []byte
	start, end int
}

// NewReader returns a reader over r with a buffer of size bytes (at least
// MinBufferSize).
func NewReader(r io.Reader, size int) *Reader {
	return &Reader{r: r, buf: make([]byte, max(size, MinBufferSize))}
}

// Reset drops buffered bytes and reads from r from now on, keeping the buffer.
func (rd *Reader) Reset(r io.Reader) {
	rd.r = r
	rd.start, rd.end = 0, 0
}

// Buffered returns how many unread bytes are in the buffer.
func (rd *Reader) Buffered() int { return rd.end - rd.start }

// fill reads at least one more byte into the buffer, compacting it first
// when it is full. It returns io.EOF (or the read error) when none came.
func (rd *Reader) fill() error {
	if rd.start == rd.end {
		rd.start, rd.end = 0, 0
	} else if rd.end == len(rd.buf) {
		if rd.start == 0 {
			return ErrHeadTooLarge
		}
		rd.end = copy(rd.buf, rd.buf[rd.start:rd.end])
		rd.start = 0
	}
	for range 100 {
		n, err := rd.r.Read(rd.buf[rd.end:])
		rd.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

var crlfcrlf = []byte("\r\n\r\n")

// Next reads one complete response for a request of the given kind (head:
// true for HEAD requests, whose responses have no body) and skips its body.
// Interim 1xx responses are skipped. io.EOF means the connection closed
// cleanly before any byte of the response; io.ErrUnexpectedEOF means it
// closed in the middle.
func (rd *Reader) Next(resp *Response, head bool) error {
	for {
		if err := rd.nextOne(resp, head); err != nil {
			return err
		}
		if resp.Status >= 200 || resp.Status == 101 {
			return nil
		}
	}
}

func (rd *Reader) nextOne(resp *Response, head bool) error {
	*resp = Response{}
	var headLen int
	for {
		if i := bytes.Index(rd.buf[rd.start:rd.end], crlfcrlf); i >= 0 {
			headLen = i + 4
			break
		}
		if err := rd.fill(); err != nil {
			if err == io.EOF && rd.start != rd.end {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	h := rd.buf[rd.start : rd.start+headLen-2] // every line ends in CRLF
	rd.start += headLen
	chunked, length, err := parseHead(h, resp)
	if err != nil {
		return err
	}
	switch {
	case head || resp.Status < 200 || resp.Status == 204 || resp.Status == 304:
		return nil
	case chunked:
		return rd.skipChunked(resp)
	case length >= 0:
		resp.BodyLen = length
		return rd.skip(length)
	default:
		resp.KeepAlive = false
		return rd.skipUntilClose(resp)
	}
}

// parseHead parses the status line and headers in h (each line ending in
// CRLF, the final empty line removed). length is -1 when absent.
func parseHead(h []byte, resp *Response) (chunked bool, length int64, err error) {
	if !validHead(h) {
		return false, -1, fmt.Errorf("cannot accept control characters or bare CR/LF in the response head: %w", ErrMalformed)
	}
	line, rest, _ := bytes.Cut(h, []byte("\r\n"))
	// status-line = HTTP-version SP status-code SP [ reason-phrase ]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
		line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return false, -1, fmt.Errorf("cannot parse status line %q: %w", truncate(line), ErrMalformed)
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return false, -1, fmt.Errorf("cannot parse status code in %q: %w", truncate(line), ErrMalformed)
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return false, -1, fmt.Errorf("cannot accept status %d: %w", status, ErrMalformed)
	}
	resp.Status = status
	http11 := line[7] == '1'
	keepAlive, closeSeen := http11, false
	length = -1
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' || bytes.IndexByte(line[:colon], ' ') >= 0 {
			return false, -1, fmt.Errorf("cannot parse header line %q: %w", truncate(line), ErrMalformed)
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseDecimal(value)
			if !ok || (length >= 0 && n != length) {
				return false, -1, fmt.Errorf("cannot accept Content-Length %q: %w", truncate(value), ErrMalformed)
			}
			length = n
		case equalFold(name, "transfer-encoding"):
			if !equalFold(value, "chunked") {
				return false, -1, fmt.Errorf("cannot decode Transfer-Encoding %q: %w", truncate(value), ErrUnsupported)
			}
			chunked = true
		case equalFold(name, "connection"):
			if containsToken(value, "close") {
				closeSeen = true
			} else if containsToken(value, "keep-alive") {
				keepAlive = true
			}
		}
	}
	if chunked && length >= 0 {
		return false, -1, fmt.Errorf("cannot accept both Content-Length and chunked: %w", ErrMalformed)
	}
	if chunked && !http11 { // RFC 9112 section 6.1: HTTP/1.0 peers do not chunk; framing is suspect
		return false, -1, fmt.Errorf("cannot accept Transfer-Encoding in an HTTP/1.0 response: %w", ErrMalformed)
	}
	resp.KeepAlive = keepAlive && !closeSeen
	return chunked, length, nil
}

// validHead reports whether h has no control characters other than HTAB and
// CR LF pairs: the status line and fields are VCHAR, SP, HTAB and obs-text
// (RFC 9112 section 4 and RFC 9110 section 5.5), and a bare CR or LF is
// where parsers disagree about line ends.
func validHead(h []byte) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '\r':
			if i+1 >= len(h) || h[i+1] != '\n' {
				return false
			}
			i++
		case c == '\n', c == 0x7f, c < 0x20 && c != '\t':
			return false
		}
	}
	return true
}

// skip discards n body bytes.
func (rd *Reader) skip(n int64) error {
	for {
		avail := int64(rd.end - rd.start)
		if avail >= n {
			rd.start += int(n)
			return nil
		}
		n -= avail
		rd.start, rd.end = 0, 0
		if err := rd.fill(); err != nil {
			return unexpected(err)
		}
	}
}

func (rd *Reader) skipUntilClose(resp *Response) error {
	for {
		resp.BodyLen += int64(rd.end - rd.start)
		rd.start, rd.end = 0, 0
		if err := rd.fill(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// line returns the next CRLF-terminated line (without CRLF), consuming it.
// The bytes are valid until the next read.
func (rd *Reader) line() ([]byte, error) {
	for {
		b := rd.buf[rd.start:rd.end]
		if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
			rd.start += i + 2
			return b[:i], nil
		}
		if len(b) > maxChunkLine {
			return nil, fmt.Errorf("cannot find the end of a chunk line: %w", ErrMalformed)
		}
		if err := rd.fill(); err != nil {
			return nil, unexpected(err)
		}
	}
}

// skipChunked discards a chunked body:
//
//	chunked-body = *chunk last-chunk trailer-section CRLF
//	chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
func (rd *Reader) skipChunked(resp *Response) error {
	for {
		line, err := rd.line()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, ok := parseHex(bytes.TrimRight(line, " \t"))
		if !ok {
			return fmt.Errorf("cannot parse chunk size %q: %w", truncate(line), ErrMalformed)
		}
		if size == 0 {
			for { // trailer section, up to the empty line
				l, err := rd.line()
				if err != nil {
					return err
				}
				if len(l) == 0 {
					return nil
				}
			}
		}
		resp.BodyLen += size
		if err := rd.skip(size); err != nil {
			return err
		}
		l, err := rd.line()
		if err != nil {
			return err
		}
		if len(l) != 0 {
			return fmt.Errorf("cannot find CRLF after chunk data: %w", ErrMalformed)
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseDecimal parses 1*DIGIT up to 15 digits (about 1 PB, far beyond any
// benchmark body), so overflow cannot happen.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseHex parses 1*HEXDIG up to 12 digits (no overflow possible).
func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// containsToken reports whether the comma-separated list v holds token tok.
func containsToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var item []byte
		item, v, _ = bytes.Cut(v, []byte(","))
		if equalFold(bytes.TrimSpace(item), tok) {
			return true
		}
	}
	return false
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
