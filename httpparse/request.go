package httpparse

import "encoding/binary"

// ParseRequest parses the request head at the start of buf into req: the
// request line, the header section and its final empty line (RFC 9112 §2-5).
// Up to maxLeadingEmptyLines CRLFs before the request line are skipped and
// counted in consumed.
//
// It returns the number of bytes of buf the head occupies (the body, if any,
// starts at buf[consumed]), ErrNeedMore if buf holds only the beginning of a
// valid head, or an *Error. A head that is already known to be invalid or
// over a limit is rejected at once, even if incomplete. After ErrNeedMore,
// call again with the longer buffer from the same start.
//
// The caller sets req.Headers to a zero-length slice whose capacity is the
// number of fields it allows; every other field of req is overwritten. After
// an error, req holds partial results that mean nothing. All Spans in req
// point into buf and are valid exactly as long as buf's bytes are. lim may be
// nil for the defaults. ParseRequest does not allocate; it is safe to call
// concurrently on distinct req values.
func ParseRequest(buf []byte, req *Request, lim *Limits) (consumed int, err error) {
	maxLine, maxHeader := lim.values()
	*req = Request{Headers: req.Headers[:0]}

	i, err := skipEmptyLines(buf)
	if err != nil {
		return 0, err
	}
	lineEnd, err := parseRequestLine(buf, i, maxLine, req)
	if err != nil {
		return 0, err
	}
	st := fieldState{request: true, cl: -1}
	hdrs, end, err := parseSection(buf, lineEnd, maxHeader, req.Headers, &st)
	req.Headers = hdrs
	if err != nil {
		return 0, err
	}
	if err := req.finish(buf, &st); err != nil {
		return 0, err
	}
	req.HeadLen = end
	return end, nil
}

// skipEmptyLines skips the CRLFs a client may send before a start line
// (RFC 9112 §2.2) and returns the offset of the start line.
func skipEmptyLines(buf []byte) (int, error) {
	i := 0
	for k := 0; i < len(buf); k++ {
		switch buf[i] {
		case '\r':
		case '\n':
			return 0, ErrBareLF
		default:
			return i, nil
		}
		if k == maxLeadingEmptyLines {
			return 0, ErrTooManyEmptyLines
		}
		if i+1 == len(buf) {
			return 0, ErrNeedMore
		}
		if buf[i+1] != '\n' {
			return 0, ErrBareCR
		}
		i += 2
	}
	return 0, ErrNeedMore
}

// parseRequestLine parses buf[i:] as
//
//	request-line = method SP request-target SP HTTP-version CRLF  (RFC 9112 §3)
//
// with exactly one SP between the parts (this parser does not accept the
// other whitespace RFC 9112 §3 lets a recipient accept). It returns the
// offset after the CRLF.
func parseRequestLine(buf []byte, i, maxLine int, req *Request) (int, error) {
	// Scanning never looks past the longest allowed line and its CRLF, so an
	// endless line costs at most maxLine bytes of work per call.
	tooLong := ErrNeedMore
	if len(buf)-i >= maxLine+2 {
		buf = buf[:i+maxLine+2]
		tooLong = ErrRequestLineTooLong
	}
	n := len(buf)
	start := i

	// method = token (RFC 9110 §9.1)
	i = skipTchar(buf, i)
	if i == n {
		return 0, tooLong
	}
	if buf[i] != ' ' || i == start {
		switch buf[i] {
		case '\n':
			return 0, ErrBareLF
		case '\r', ' ':
			return 0, ErrBadRequestLine
		}
		return 0, ErrBadMethod
	}
	req.Method = Span{int32(start), int32(i)}
	req.MethodKind = methodKind(buf[start:i])
	i++

	ts := i
	q := -1
	if i = skipClass(buf, i, classPath); i < n && buf[i] == '?' {
		q = i
		i = skipClass(buf, i+1, classTarget)
	}
	if i == n {
		return 0, tooLong
	}
	if buf[i] != ' ' || i == ts {
		switch buf[i] {
		case '\n':
			return 0, ErrBareLF
		case '\r', ' ':
			return 0, ErrBadRequestLine
		}
		return 0, ErrBadTarget
	}
	req.Target = Span{int32(ts), int32(i)}
	i++
	if i < n && buf[i] == ' ' {
		return 0, ErrBadRequestLine
	}

	v, err := parseVersion(buf[i:])
	if err == nil {
		err = parseCRLF(buf[i+len("HTTP/1.1"):])
	}
	if err == ErrNeedMore {
		return 0, tooLong
	}
	if err != nil {
		return 0, err
	}
	if i-start+len("HTTP/1.1") > maxLine {
		return 0, ErrRequestLineTooLong
	}
	req.Version = v
	if err := req.splitTarget(buf, ts, q); err != nil {
		return 0, err
	}
	return i + len("HTTP/1.1\r\n"), nil
}

// parseVersion parses the HTTP-version at the start of b (RFC 9112 §2.3):
//
//	HTTP-version = HTTP-name "/" DIGIT "." DIGIT
//	HTTP-name    = %s"HTTP"
//
// A malformed prefix is rejected before the whole version has arrived; a
// well-formed version other than 1.0 and 1.1 gets ErrVersionNotSupported.
func parseVersion(b []byte) (Version, error) {
	if len(b) >= 8 {
		switch binary.LittleEndian.Uint64(b) {
		case http11:
			return HTTP11, nil
		case http10:
			return HTTP10, nil
		}
	}
	const pattern = "HTTP/0.0"
	for k := 0; k < len(pattern); k++ {
		if k == len(b) {
			return 0, ErrNeedMore
		}
		if c := b[k]; c == '\n' {
			return 0, ErrBareLF
		} else if k == 5 || k == 7 {
			if c-'0' >= 10 {
				return 0, ErrBadVersion
			}
		} else if c != pattern[k] {
			return 0, ErrBadVersion
		}
	}
	if b[5] != '1' || (b[7] != '0' && b[7] != '1') {
		return 0, ErrVersionNotSupported
	}
	return Version(10 + b[7] - '0'), nil
}

// "HTTP/1.1" and "HTTP/1.0" read as little-endian words, for parseVersion's fast path.
const (
	http11 = uint64('H') | uint64('T')<<8 | uint64('T')<<16 | uint64('P')<<24 | uint64('/')<<32 | uint64('1')<<40 | uint64('.')<<48 | uint64('1')<<56
	http10 = http11&^(0xff<<56) | uint64('0')<<56
)

// parseCRLF checks for CRLF at the start of b, where a start line ends.
func parseCRLF(b []byte) error {
	if len(b) >= 2 && b[0] == '\r' && b[1] == '\n' {
		return nil
	}
	switch {
	case len(b) == 0:
		return ErrNeedMore
	case b[0] == '\n':
		return ErrBareLF
	case b[0] == ' ':
		return ErrBadRequestLine
	case b[0] != '\r':
		return ErrBadVersion
	case len(b) == 1:
		return ErrNeedMore
	case b[1] != '\n':
		return ErrBareCR
	}
	return nil
}

// methodKind recognizes the methods of RFC 9110 §9 and PATCH (RFC 5789).
// Methods are case-sensitive.
func methodKind(m []byte) Method {
	switch string(m) {
	case "GET":
		return MethodGet
	case "HEAD":
		return MethodHead
	case "POST":
		return MethodPost
	case "PUT":
		return MethodPut
	case "DELETE":
		return MethodDelete
	case "CONNECT":
		return MethodConnect
	case "OPTIONS":
		return MethodOptions
	case "TRACE":
		return MethodTrace
	case "PATCH":
		return MethodPatch
	}
	return MethodOther
}

// splitTarget works out the form of the request-target at buf[ts:] (its
// bytes already checked against classTarget; q is the first '?' or -1) and
// sets Form, Path, Query and, for absolute form, Host (RFC 9112 §3.2):
//
//	origin-form    = absolute-path [ "?" query ]
//	absolute-form  = absolute-URI             (this parser requires "scheme://authority")
//	authority-form = uri-host ":" port        (CONNECT only)
//	asterisk-form  = "*"                      (OPTIONS only)
func (req *Request) splitTarget(buf []byte, ts, q int) error {
	te := int(req.Target.End)
	t := buf[ts:te]
	if req.MethodKind == MethodConnect {
		if !validAuthority(t, true) {
			return ErrBadTarget
		}
		req.Form = FormAuthority
		return nil
	}
	switch t[0] {
	case '/':
		req.Form = FormOrigin
		req.setPathQuery(ts, te, q)
		return nil
	case '*':
		if len(t) != 1 || req.MethodKind != MethodOptions {
			return ErrBadTarget
		}
		req.Form = FormAsterisk
		return nil
	}
	// absolute-form: scheme "://" authority path-abempty [ "?" query ]
	k := 0
	for k < len(t) && isSchemeChar(t[k]) {
		k++
	}
	if k == 0 || toLower(t[0])-'a' >= 26 || len(t)-k < 3 || t[k] != ':' || t[k+1] != '/' || t[k+2] != '/' {
		return ErrBadTarget
	}
	as := ts + k + 3
	ae := as
	for ae < te && buf[ae] != '/' && buf[ae] != '?' {
		ae++
	}
	if !validAuthority(buf[as:ae], false) || as == ae {
		return ErrBadTarget
	}
	req.Form = FormAbsolute
	req.Host = Span{int32(as), int32(ae)}
	req.setPathQuery(ae, te, q)
	return nil
}

// isSchemeChar reports whether c may appear in a URI scheme:
// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1).
func isSchemeChar(c byte) bool {
	return toLower(c)-'a' < 26 || c-'0' < 10 || c == '+' || c == '-' || c == '.'
}

func (req *Request) setPathQuery(ps, te, q int) {
	if q < 0 {
		req.Path = Span{int32(ps), int32(te)}
		req.Query = Span{int32(te), int32(te)}
		return
	}
	req.Path = Span{int32(ps), int32(q)}
	req.Query = Span{int32(q + 1), int32(te)}
}

// ValidAuthority reports whether a Host value a is accepted by ParseRequest
// (validAuthority below): for translators such as the HTTP/2 server, whose
// :authority becomes a Host field that must parse the same.
func ValidAuthority(a []byte) bool { return validAuthority(a, false) }

// validAuthority reports whether a is an authority without userinfo
// (RFC 3986 §3.2, RFC 9110 §4.2.4 forbids userinfo in http URIs):
//
//	authority  = uri-host [ ":" port ]
//	uri-host   = IP-literal / IPv4address / reg-name
//	IP-literal = "[" ( IPv6address / IPvFuture ) "]"
//	port       = *DIGIT
//
// The host is only checked to be made of classHost bytes with brackets in
// the right places. needPort requires a non-empty host and port (CONNECT).
func validAuthority(a []byte, needPort bool) bool {
	k := skipClass(a, 0, classRegName)
	if k == 0 && len(a) > 0 && a[0] == '[' {
		for k = 1; k < len(a) && a[k] != ']'; k++ {
			if c := a[k]; charClass[c]&classHost == 0 || c == '[' {
				return false
			}
		}
		if k == len(a) || k == 1 {
			return false
		}
		k++
	}
	if k == len(a) {
		return !needPort
	}
	if a[k] != ':' || (needPort && (k == 0 || k == len(a)-1)) {
		return false
	}
	for _, c := range a[k+1:] {
		if c-'0' >= 10 {
			return false
		}
	}
	return true
}

// parseSection parses the field lines from buf[i] to the empty line that
// ends the section, appending them to hdrs, within maxHeader bytes. It
// returns the headers and the offset after the empty line.
func parseSection(buf []byte, i, maxHeader int, hdrs []Header, st *fieldState) ([]Header, int, error) {
	tooLarge := ErrNeedMore
	if len(buf)-i >= maxHeader {
		buf = buf[:i+maxHeader]
		tooLarge = ErrHeaderTooLarge
	}
	var spare Header // parses the line that does not fit, to report the right error
	for {
		if i+1 >= len(buf) {
			if i < len(buf) && buf[i] != '\r' {
				// Let the field-line parser reject what it can already see.
				if _, err := parseFieldLine(buf, i, &spare); err != ErrNeedMore {
					return hdrs, 0, err
				}
			}
			return hdrs, 0, tooLarge
		}
		if buf[i] == '\r' {
			if buf[i+1] != '\n' {
				return hdrs, 0, ErrBareCR
			}
			return hdrs, i + 2, nil
		}
		h := &spare
		if k := len(hdrs); k < cap(hdrs) {
			hdrs = hdrs[:k+1]
			h = &hdrs[k]
		}
		// Fast path for the common line: name, colon, value, CRLF, all in buf.
		n := len(buf)
		j := skipTchar(buf, i)
		if j < n && j > i && buf[j] == ':' {
			nameEnd := j
			j++
			for j < n && isOWS(buf[j]) {
				j++
			}
			vs := j
			j = scanValue(buf, j)
			if j+1 < n && buf[j] == '\r' && buf[j+1] == '\n' {
				ve := j
				for ve > vs && isOWS(buf[ve-1]) {
					ve--
				}
				if h == &spare {
					return hdrs, 0, ErrTooManyHeaders
				}
				*h = Header{Name: Span{int32(i), int32(nameEnd)}, Value: Span{int32(vs), int32(ve)}}
				if err := st.note(buf, h); err != nil {
					return hdrs, 0, err
				}
				i = j + 2
				continue
			}
		}
		next, err := parseFieldLine(buf, i, h)
		if err != nil {
			if err == ErrNeedMore {
				err = tooLarge
			}
			return hdrs, 0, err
		}
		if h == &spare {
			return hdrs, 0, ErrTooManyHeaders
		}
		if err := st.note(buf, h); err != nil {
			return hdrs, 0, err
		}
		i = next
	}
}

// finish applies the rules that need the whole head: Host (RFC 9112 §3.2),
// framing (RFC 9112 §6.3) and connection options (RFC 9112 §9.3, RFC 9110 §7.6.1).
func (req *Request) finish(buf []byte, st *fieldState) error {
	if st.hosts == 0 && req.Version == HTTP11 {
		return ErrMissingHost
	}
	if st.hosts == 1 && !validAuthority(st.host.Bytes(buf), false) {
		return ErrBadHost
	}
	if req.Form != FormAbsolute {
		req.Host = st.host
	}

	switch {
	case st.teLines > 0:
		switch {
		case req.Version == HTTP10:
			return ErrTEOnHTTP10
		case st.cl >= 0:
			return ErrTEWithCL
		case !st.teLast:
			return ErrTENotChunked
		case st.teOther:
			return ErrUnsupportedTE
		}
		req.Framing = FramingChunked
	case st.cl >= 0:
		req.Framing = FramingLength
		req.ContentLength = st.cl
	}

	if req.Version == HTTP11 {
		req.KeepAlive = !st.connClose
		req.Expect100 = st.expect100
		req.Upgrade = st.connUpgrade && st.upgradeField
	} else {
		req.KeepAlive = st.connKeep && !st.connClose
	}
	if st.connOther {
		markConnectionOptions(buf, req.Headers)
	}
	return nil
}
