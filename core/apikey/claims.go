package apikey

// A minimal, allocation-free reader for the top level of a JSON object
// (RFC 8259), enough to pick the few JWT header and claim members Check
// needs. Member names are compared as raw bytes: a name written with escapes
// is treated as an unknown member, which is safe because only the key holder
// can produce a validly signed token.

// walkObject calls visit for each top-level member of the JSON object p,
// with the raw name (without quotes) and the raw value. It reports false if p
// is not a well-formed object, or as soon as visit returns false.
func walkObject(p []byte, visit func(name, value []byte) bool) bool {
	i := skipWS(p, 0)
	if i >= len(p) || p[i] != '{' {
		return false
	}
	i = skipWS(p, i+1)
	if i < len(p) && p[i] == '}' {
		return skipWS(p, i+1) == len(p)
	}
	for {
		if i >= len(p) || p[i] != '"' {
			return false
		}
		end, ok := skipString(p, i)
		if !ok {
			return false
		}
		name := p[i+1 : end-1]
		i = skipWS(p, end)
		if i >= len(p) || p[i] != ':' {
			return false
		}
		i = skipWS(p, i+1)
		start := i
		if i, ok = skipValue(p, i); !ok {
			return false
		}
		if !visit(name, p[start:i]) {
			return false
		}
		i = skipWS(p, i)
		if i >= len(p) {
			return false
		}
		switch p[i] {
		case ',':
			i = skipWS(p, i+1)
		case '}':
			return skipWS(p, i+1) == len(p)
		default:
			return false
		}
	}
}

// maxDepth bounds nesting in skipped values, so a hostile token cannot make
// the scan deep; real claims nest two or three levels.
const maxDepth = 32

func skipWS(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the closing quote of the string that
// starts at p[i] == '"'.
func skipString(p []byte, i int) (int, bool) {
	for i++; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\':
			i++
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		}
	}
	return 0, false
}

// skipValue returns the index after the value that starts at p[i].
func skipValue(p []byte, i int) (int, bool) {
	if i >= len(p) {
		return 0, false
	}
	switch p[i] {
	case '"':
		return skipString(p, i)
	case '{', '[':
		depth := 0
		for ; i < len(p); i++ {
			switch p[i] {
			case '"':
				end, ok := skipString(p, i)
				if !ok {
					return 0, false
				}
				i = end - 1
			case '{', '[':
				if depth++; depth > maxDepth {
					return 0, false
				}
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
		}
		return 0, false
	default:
		start := i
		for i < len(p) && p[i] != ',' && p[i] != '}' && p[i] != ']' && p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r' {
			i++
		}
		return i, i > start
	}
}

// jsonString returns the content of the JSON string value v. Escapes are
// decoded into dst's spare room only when present; \u escapes are limited to
// ASCII, which is all an id or algorithm name may hold.
func jsonString(v, dst []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	esc := false
	for _, c := range s {
		if c == '\\' {
			esc = true
			break
		}
	}
	if !esc {
		return s, true
	}
	out := dst[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i++; i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+4 >= len(s) {
				return nil, false
			}
			var r byte
			for _, h := range s[i+1 : i+5] {
				d, ok := unhex(h)
				if !ok {
					return nil, false
				}
				r = r<<4 | d
			}
			if s[i+1] != '0' || s[i+2] != '0' || r >= 0x80 {
				return nil, false
			}
			out = append(out, r)
			i += 4
		default:
			return nil, false
		}
	}
	return out, true
}

// jsonInt parses a JSON number as whole seconds: the fraction is dropped;
// exponents are refused (NumericDate values are plain integers in practice).
func jsonInt(v []byte) (int64, bool) {
	i, neg := 0, false
	if i < len(v) && v[i] == '-' {
		neg = true
		i++
	}
	start := i
	var n int64
	for ; i < len(v) && '0' <= v[i] && v[i] <= '9'; i++ {
		if n > (1<<62)/10 {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	if i == start {
		return 0, false
	}
	if i < len(v) && v[i] == '.' {
		i++
		frac := i
		for i < len(v) && '0' <= v[i] && v[i] <= '9' {
			i++
		}
		if i == frac {
			return 0, false
		}
	}
	if i != len(v) {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
