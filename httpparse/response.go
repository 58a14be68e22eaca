package httpparse

// ParseResponse parses the response head at the start of buf into resp: the
// status line, the header section and its final empty line (RFC 9112 §4-5).
//
// Results, ErrNeedMore, limits and Span lifetimes are as for ParseRequest:
// resp.Headers is supplied by the caller, every Span points into buf and is
// valid exactly as long as buf's bytes are. The status line is bounded by
// Limits.MaxRequestLine. An error means the upstream sent a malformed head;
// a proxy answers its client with 502 whatever the error's Status says.
// ParseResponse does not allocate; it is safe to call concurrently on
// distinct resp values.
//
// The body framing depends on the request method too; ask BodyFraming.
func ParseResponse(buf []byte, resp *Response, lim *Limits) (consumed int, err error) {
	maxLine, maxHeader := lim.values()
	*resp = Response{Headers: resp.Headers[:0], ContentLength: -1}

	lineEnd, err := parseStatusLine(buf, maxLine, resp)
	if err != nil {
		return 0, err
	}
	st := fieldState{cl: -1}
	hdrs, end, err := parseSection(buf, lineEnd, maxHeader, resp.Headers, &st)
	resp.Headers = hdrs
	if err != nil {
		return 0, err
	}
	if err := resp.finish(buf, &st); err != nil {
		return 0, err
	}
	resp.HeadLen = end
	return end, nil
}

// parseStatusLine parses the start of buf as
//
//	status-line  = HTTP-version SP status-code SP [ reason-phrase ] CRLF  (RFC 9112 §4)
//	status-code  = 3DIGIT
//	reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
//
// The SP after the status code may be missing when the reason is empty: many
// servers omit it, and the line still ends unambiguously at CRLF.
func parseStatusLine(buf []byte, maxLine int, resp *Response) (int, error) {
	tooLong := ErrNeedMore
	if len(buf) >= maxLine+2 {
		buf = buf[:maxLine+2]
		tooLong = ErrRequestLineTooLong
	}
	v, err := parseVersion(buf)
	if err == ErrNeedMore {
		return 0, tooLong
	}
	if err != nil {
		return 0, err
	}
	resp.Version = v
	const codeAt = len("HTTP/1.1 ")
	n := len(buf)
	for k := len("HTTP/1.1"); k < codeAt+3; k++ {
		if k == n {
			return 0, tooLong
		}
		c := buf[k]
		if k == len("HTTP/1.1") {
			switch c {
			case ' ':
				continue
			case '\n':
				return 0, ErrBareLF
			}
			return 0, ErrBadStatusLine
		}
		if c-'0' >= 10 {
			if c == '\n' {
				return 0, ErrBareLF
			}
			return 0, ErrBadStatus
		}
		resp.Status = resp.Status*10 + int(c-'0')
	}
	if resp.Status < 100 || resp.Status > 599 {
		return 0, ErrBadStatus
	}
	i := codeAt + 3
	if i == n {
		return 0, tooLong
	}
	switch buf[i] {
	case ' ':
		i++
	case '\r':
	case '\n':
		return 0, ErrBareLF
	default:
		return 0, ErrBadStatus
	}
	rs := i
	i = scanValue(buf, i)
	if i == n {
		return 0, tooLong
	}
	if buf[i] != '\r' {
		return 0, valueStopError(buf[i])
	}
	if i+1 == n {
		return 0, tooLong
	}
	if buf[i+1] != '\n' {
		return 0, ErrBareCR
	}
	if i > maxLine {
		return 0, ErrRequestLineTooLong
	}
	resp.Reason = Span{int32(rs), int32(i)}
	return i + 2, nil
}

// finish applies the rules that need the whole head: framing (RFC 9112 §6.3)
// and persistence (RFC 9112 §9.3).
func (resp *Response) finish(buf []byte, st *fieldState) error {
	if resp.Version == HTTP11 {
		resp.KeepAlive = !st.connClose
	} else {
		resp.KeepAlive = st.connKeep && !st.connClose
	}
	if st.teLines > 0 {
		switch {
		case resp.Version == HTTP10:
			// RFC 9112 §6.1: the framing of an HTTP/1.0 message with
			// Transfer-Encoding is faulty; a proxy cannot forward it safely.
			return ErrTEOnHTTP10
		case st.cl >= 0:
			// RFC 9112 §6.3 point 3 lets TE win, but says the message "ought
			// to be handled as an error": it is a response-splitting sign.
			return ErrTEWithCL
		}
		resp.Chunked = st.teLast
		if !st.teLast {
			resp.teNotChunked = true
			resp.KeepAlive = false
		}
	}
	resp.ContentLength = st.cl
	if st.connOther {
		markConnectionOptions(buf, resp.Headers)
	}
	return nil
}

// BodyFraming returns how the body of this response is delimited, given the
// method of the request it answers (RFC 9112 §6.3, in that order):
//
//  1. a response to HEAD, and any 1xx, 204 or 304 response, has no body;
//  2. a 2xx response to CONNECT has no body (the connection becomes a tunnel);
//  3. Transfer-Encoding ending in chunked: chunked;
//     Transfer-Encoding ending in anything else: until close;
//  4. Content-Length: that many bytes;
//  5. otherwise: until the connection closes.
//
// With FramingUntilClose the connection cannot be reused, whatever KeepAlive says.
func (resp *Response) BodyFraming(reqMethod Method) Framing {
	switch s := resp.Status; {
	case reqMethod == MethodHead, s < 200, s == 204, s == 304:
		return FramingNone
	case reqMethod == MethodConnect && s < 300:
		return FramingNone
	case resp.Chunked:
		return FramingChunked
	case resp.teNotChunked:
		return FramingUntilClose
	case resp.ContentLength >= 0:
		return FramingLength
	}
	return FramingUntilClose
}
