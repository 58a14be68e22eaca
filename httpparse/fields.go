package httpparse

import (
	"encoding/binary"
	"math/bits"
)

// parseFieldLine parses one field line starting at buf[i], which is not the
// CR of the empty line that ends a section (RFC 9112 §5), into h:
//
//	field-line = field-name ":" OWS field-value OWS CRLF
//
// It returns the offset just past the line's CRLF, or ErrNeedMore if buf
// ends first. Bytes that cannot start a valid line are rejected as soon as
// they are seen, whether or not the line is complete.
func parseFieldLine(buf []byte, i int, h *Header) (next int, err error) {
	n := len(buf)
	j := skipTchar(buf, i)
	if j == n {
		return 0, ErrNeedMore
	}
	if buf[j] != ':' || j == i {
		switch c := buf[j]; {
		case j == i && isOWS(c):
			return 0, ErrObsFold
		case j > i && isOWS(c):
			return 0, ErrSpaceBeforeColon
		case c == '\n':
			return 0, ErrBareLF
		}
		return 0, ErrBadHeaderName
	}
	nameEnd := j
	j++
	for j < n && isOWS(buf[j]) {
		j++
	}
	vs := j
	j = scanValue(buf, j)
	if j >= n-1 {
		if j < n && buf[j] != '\r' {
			return 0, valueStopError(buf[j])
		}
		return 0, ErrNeedMore
	}
	if buf[j] != '\r' {
		return 0, valueStopError(buf[j])
	}
	if buf[j+1] != '\n' {
		return 0, ErrBareCR
	}
	ve := j
	for ve > vs && isOWS(buf[ve-1]) {
		ve--
	}
	*h = Header{Name: Span{int32(i), int32(nameEnd)}, Value: Span{int32(vs), int32(ve)}}
	return j + 2, nil
}

// skipTchar returns the offset of the first byte at or after i that is not a
// tchar, or len(buf).
func skipTchar(buf []byte, i int) int { return skipClass(buf, i, classTchar) }

// valueStopError names the byte that ended a field value early.
func valueStopError(c byte) error {
	if c == '\n' {
		return ErrBareLF
	}
	return ErrBadHeaderValue
}

// scanValue returns the offset of the first byte at or after i that is not
// allowed in a field value (classValue), or len(buf).
//
// It reads eight bytes per step (SWAR). A byte b below 0x20 sets the high
// bit of (b-0x20) &^ b, and a DEL becomes a zero byte after x ^ 0x7f..7f;
// borrows only ever flag bytes above one already flagged, so the lowest
// flagged byte is the first control byte or DEL. HTAB is a control byte that
// values may hold: the scan steps over it and goes on.
func scanValue(buf []byte, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
		del   = 0x7f * ones
	)
	for i+8 <= len(buf) {
		x := binary.LittleEndian.Uint64(buf[i:])
		y := x ^ del
		m := ((x-0x20*ones)&^x | (y-ones)&^y) & highs
		if m == 0 {
			i += 8
			continue
		}
		k := i + bits.TrailingZeros64(m)>>3
		if buf[k] != '\t' {
			return k
		}
		i = k + 1
	}
	for i < len(buf) && charClass[buf[i]]&classValue != 0 {
		i++
	}
	return i
}

// fieldState accumulates what the semantic fields of one section say.
type fieldState struct {
	request  bool // a request section: Host rules apply
	hosts    int
	host     Span
	clValues int
	cl       int64 // -1 when absent

	teLines      int
	teCodings    int
	teChunked    int  // how many times chunked was listed
	teLast       bool // the last coding so far is chunked
	teOther      bool // a coding other than chunked was listed
	connClose    bool
	connKeep     bool
	connUpgrade  bool
	connOther    bool // Connection names a field outside the fixed hop-by-hop list
	upgradeField bool
	expect100    bool
}

// note classifies h, sets its flags and records its meaning in st.
func (st *fieldState) note(buf []byte, h *Header) error {
	name := h.Name.Bytes(buf)
	switch len(name) {
	case 2:
		if EqualFold(name, "te") {
			h.Flags |= FlagHopByHop
		}
	case 4:
		if EqualFold(name, "host") {
			st.hosts++
			st.host = h.Value
			if st.hosts > 1 && st.request {
				return ErrDuplicateHost
			}
		}
	case 6:
		if EqualFold(name, "expect") && EqualFold(h.Value.Bytes(buf), "100-continue") {
			st.expect100 = true
		}
	case 7:
		if EqualFold(name, "upgrade") {
			h.Flags |= FlagHopByHop
			st.upgradeField = true
		} else if EqualFold(name, "trailer") {
			h.Flags |= FlagHopByHop
		}
	case 10:
		if EqualFold(name, "connection") {
			h.Flags |= FlagHopByHop
			return st.noteConnection(buf, h.Value)
		}
		if EqualFold(name, "keep-alive") {
			h.Flags |= FlagHopByHop
		}
	case 14:
		if EqualFold(name, "content-length") {
			h.Flags |= FlagFraming
			return st.noteContentLength(h.Value.Bytes(buf))
		}
		if EqualFold(name, "http2-settings") {
			// Connection-specific (RFC 7540 §3.2.1): it only means something
			// with an Upgrade: h2c, which a proxy must not relay.
			h.Flags |= FlagHopByHop
		}
	case 16:
		if EqualFold(name, "proxy-connection") {
			h.Flags |= FlagHopByHop
		}
	case 17:
		if EqualFold(name, "transfer-encoding") {
			h.Flags |= FlagHopByHop | FlagFraming
			return st.noteTransferEncoding(buf, h.Value)
		}
	case 18:
		if EqualFold(name, "proxy-authenticate") {
			h.Flags |= FlagHopByHop
		}
	case 19:
		if EqualFold(name, "proxy-authorization") {
			h.Flags |= FlagHopByHop
		}
	}
	return nil
}

// isFixedHopByHop reports whether name is one of the fixed hop-by-hop fields
// that note already flags.
func isFixedHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return EqualFold(name, "te")
	case 7:
		return EqualFold(name, "upgrade") || EqualFold(name, "trailer")
	case 10:
		return EqualFold(name, "connection") || EqualFold(name, "keep-alive")
	case 16:
		return EqualFold(name, "proxy-connection")
	case 17:
		return EqualFold(name, "transfer-encoding")
	case 18:
		return EqualFold(name, "proxy-authenticate")
	case 19:
		return EqualFold(name, "proxy-authorization")
	}
	return false
}

// noteConnection records the options of one Connection line:
//
//	Connection        = #connection-option       (RFC 9110 §7.6.1)
//	connection-option = token
//
// Empty list elements are accepted and ignored (RFC 9110 §5.6.1).
func (st *fieldState) noteConnection(buf []byte, v Span) error {
	// The two values nearly every message carries, without the list walk.
	switch val := v.Bytes(buf); {
	case EqualFold(val, "keep-alive"):
		st.connKeep = true
		return nil
	case EqualFold(val, "close"):
		st.connClose = true
		return nil
	}
	for i, end := int(v.Start), int(v.End); ; {
		s, e, next, err := nextToken(buf, i, end, ErrBadConnection)
		if err != nil || s == e {
			return err
		}
		switch tok := buf[s:e]; {
		case EqualFold(tok, "close"):
			st.connClose = true
		case EqualFold(tok, "keep-alive"):
			st.connKeep = true
		case EqualFold(tok, "upgrade"):
			st.connUpgrade = true
		case !isFixedHopByHop(tok):
			st.connOther = true
		}
		i = next
	}
}

// nextToken finds the next element of the comma-separated token list in
// buf[i:end], skipping empty elements and OWS. It returns the token as
// buf[s:e] (s == e at the end of the list) and where to continue, or bad if
// an element is not a token.
func nextToken(buf []byte, i, end int, bad error) (s, e, next int, err error) {
	for i < end && (isOWS(buf[i]) || buf[i] == ',') {
		i++
	}
	s = i
	for i < end && isTchar(buf[i]) {
		i++
	}
	if s == i {
		if i < end {
			return 0, 0, 0, bad
		}
		return i, i, i, nil
	}
	e = i
	for i < end && isOWS(buf[i]) {
		i++
	}
	if i < end && buf[i] != ',' {
		return 0, 0, 0, bad
	}
	return s, e, i, nil
}

// noteContentLength records one Content-Length line (RFC 9110 §8.6):
//
//	Content-Length = 1*DIGIT
//
// A comma list of identical values, or identical repeated lines, is read as
// one value as RFC 9110 §8.6 allows; differing values are rejected (RFC 9112
// §6.3 point 5), and so are signs, hex, empty elements and values beyond int64.
func (st *fieldState) noteContentLength(v []byte) error {
	i := 0
	for {
		s := i
		var n int64
		for i < len(v) && v[i]-'0' < 10 {
			if i-s >= 18 && n > (1<<63-1-int64(v[i]-'0'))/10 {
				return ErrBadContentLength
			}
			n = n*10 + int64(v[i]-'0')
			i++
		}
		if s == i {
			return ErrBadContentLength
		}
		st.clValues++
		if st.clValues > maxContentLengthValues {
			return ErrBadContentLength
		}
		if st.cl >= 0 && st.cl != n {
			return ErrConflictingContentLength
		}
		st.cl = n
		for i < len(v) && isOWS(v[i]) {
			i++
		}
		if i == len(v) {
			return nil
		}
		if v[i] != ',' {
			return ErrBadContentLength
		}
		i++
		for i < len(v) && isOWS(v[i]) {
			i++
		}
	}
}

// noteTransferEncoding records one Transfer-Encoding line (RFC 9112 §6.1,
// RFC 9110 §10.1.4):
//
//	Transfer-Encoding  = #transfer-coding
//	transfer-coding    = token *( OWS ";" OWS transfer-parameter )
//	transfer-parameter = token BWS "=" BWS ( token / quoted-string )
//
// Empty list elements are rejected: they have no use here and some parsers
// mishandle them. Listing chunked twice is rejected (RFC 9112 §6.1), and so
// is chunked with parameters (it defines none).
func (st *fieldState) noteTransferEncoding(buf []byte, v Span) error {
	st.teLines++
	i, end := int(v.Start), int(v.End)
	if i == end {
		return ErrBadTransferEncoding
	}
	for {
		s := i
		for i < end && isTchar(buf[i]) {
			i++
		}
		if s == i {
			return ErrBadTransferEncoding
		}
		st.teCodings++
		if st.teCodings > maxTransferCodings {
			return ErrBadTransferEncoding
		}
		chunked := EqualFold(buf[s:i], "chunked")
		if chunked {
			st.teChunked++
			if st.teChunked > 1 {
				return ErrBadTransferEncoding
			}
		} else {
			st.teOther = true
		}
		st.teLast = chunked
		i = skipOWS(buf, i, end)
		for i < end && buf[i] == ';' {
			if chunked {
				return ErrBadTransferEncoding
			}
			var err error
			if i, err = skipParameter(buf, i+1, end, ErrBadTransferEncoding); err != nil {
				return err
			}
			i = skipOWS(buf, i, end)
		}
		if i == end {
			return nil
		}
		if buf[i] != ',' {
			return ErrBadTransferEncoding
		}
		i = skipOWS(buf, i+1, end)
	}
}

func skipOWS(buf []byte, i, end int) int {
	for i < end && isOWS(buf[i]) {
		i++
	}
	return i
}

// skipParameter skips OWS token BWS "=" BWS ( token / quoted-string ) from
// buf[i], the byte after ";", and returns the offset after it.
func skipParameter(buf []byte, i, end int, bad error) (int, error) {
	i = skipOWS(buf, i, end)
	s := i
	for i < end && isTchar(buf[i]) {
		i++
	}
	if s == i {
		return 0, bad
	}
	i = skipOWS(buf, i, end)
	if i == end || buf[i] != '=' {
		return 0, bad
	}
	i = skipOWS(buf, i+1, end)
	return skipTokenOrQuoted(buf, i, end, bad)
}

// skipTokenOrQuoted skips a token or a quoted-string (RFC 9110 §5.6.4) at buf[i]:
//
//	quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
//	quoted-pair   = "\" ( HTAB / SP / VCHAR / obs-text )
func skipTokenOrQuoted(buf []byte, i, end int, bad error) (int, error) {
	if i < end && buf[i] == '"' {
		for i++; i < end; i++ {
			switch c := buf[i]; {
			case c == '"':
				return i + 1, nil
			case c == '\\':
				i++
				if i == end || charClass[buf[i]]&classValue == 0 {
					return 0, bad
				}
			case charClass[c]&classQdtext == 0:
				return 0, bad
			}
		}
		return 0, bad
	}
	s := i
	for i < end && isTchar(buf[i]) {
		i++
	}
	if s == i {
		return 0, bad
	}
	return i, nil
}

// markConnectionOptions flags as hop-by-hop every field named by an option
// of a Connection line (RFC 9110 §7.6.1). Options were validated by note.
func markConnectionOptions(buf []byte, hdrs []Header) {
	for k := range hdrs {
		if hdrs[k].Name.Len() != len("connection") || !EqualFold(hdrs[k].Name.Bytes(buf), "connection") {
			continue
		}
		for i, end := int(hdrs[k].Value.Start), int(hdrs[k].Value.End); ; {
			s, e, next, err := nextToken(buf, i, end, ErrBadConnection)
			if err != nil || s == e {
				break
			}
			if tok := buf[s:e]; !isFixedHopByHop(tok) {
				for m := range hdrs {
					if equalFoldBytes(hdrs[m].Name.Bytes(buf), tok) {
						hdrs[m].Flags |= FlagHopByHop
					}
				}
			}
			i = next
		}
	}
}
