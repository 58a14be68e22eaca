package plugin

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/torii-gateway/torii/httpparse"
)

// exprKind is one supported ${...} expression of Otoroshi's expression
// language (otoroshi/app/el/el.scala).
type exprKind uint8

const (
	exLiteral     exprKind = iota
	exReqID                // req.id
	exReqIP                // req.ip, req.ip_address
	exReqPath              // req.path
	exReqURI               // req.uri: path and query
	exReqHost              // req.host
	exReqDomain            // req.domain: host without port
	exReqMethod            // req.method
	exReqProtocol          // req.protocol: http or https
	exReqVersion           // req.version: HTTP/1.1
	exReqHeader            // req.headers.<name>[:<default>]
	exReqQuery             // req.query.<name>[:<default>]
	exReqCookie            // req.cookies.<name>[:<default>]
	exKeyID                // apikey.id, apikey.clientId
	exKeyName              // apikey.name
	exKeyMeta              // apikey.metadata.<name>[:<default>]
	exKeyTag               // apikey.tags['<index>'[:'<default>']]
	exRouteID              // route.id, service.id
	exRouteName            // route.name, service.name
	exRouteMeta            // route.metadata.<name>[:<default>], service.metadata...
	exDate                 // date, now: ISO 8601 with milliseconds
	exDateMs               // date.epoch_ms, now.epoch_ms
	exDateSec              // date.epoch_sec, now.epoch_sec
	exDateFmt              // date.format('<joda pattern>'), now.format(...)
)

// segment is a literal, or one expression with its argument (a header name,
// a Go time layout ...) and the default value Otoroshi would print when the
// value is missing ("no-header-<name>" and the like, or the ":default").
type segment struct {
	kind exprKind
	lit  string // literal text (exLiteral)
	arg  string // name or layout; header names are lower-case
	def  string // value when absent
	idx  int    // tag index
}

// Expr is a compiled template: text with ${...} expressions, evaluated
// against a request on the loop. The zero Expr is the empty string.
type Expr struct {
	segs []segment
	// static is set when the template has no expression: Append then copies
	// lit.
	static bool
	lit    string
}

// CompileExpr compiles s. Expressions outside the supported subset are an
// error wrapping ErrExpression that names them; Otoroshi would print
// "bad-expr" in their place, which no backend expects.
func CompileExpr(s string) (Expr, error) {
	if !strings.Contains(s, "${") {
		return Expr{static: true, lit: s}, nil
	}
	var e Expr
	rest := s
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return Expr{}, fmt.Errorf("%w: unterminated ${ in %q", ErrExpression, s)
		}
		if i > 0 {
			e.segs = append(e.segs, segment{kind: exLiteral, lit: rest[:i]})
		}
		seg, err := compileOne(strings.TrimSpace(rest[i+2 : i+j]))
		if err != nil {
			return Expr{}, err
		}
		e.segs = append(e.segs, seg)
		rest = rest[i+j+1:]
	}
	if rest != "" {
		e.segs = append(e.segs, segment{kind: exLiteral, lit: rest})
	}
	return e, nil
}

// MustExpr is CompileExpr for constants in tests and defaults; it panics on
// an error.
func MustExpr(s string) Expr {
	e, err := CompileExpr(s)
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return e
}

// needsRequest reports whether e reads the request's bytes (path, host,
// method, headers, query, cookies), which are gone when the response head
// is written.
func (e *Expr) needsRequest() bool {
	for i := range e.segs {
		switch e.segs[i].kind {
		case exReqPath, exReqURI, exReqHost, exReqDomain, exReqMethod, exReqVersion, exReqHeader, exReqQuery, exReqCookie:
			return true
		}
	}
	return false
}

// Static reports whether e has no expression, and its text.
func (e *Expr) Static() (string, bool) { return e.lit, e.static }

func splitDefault(s string) (string, string, bool) {
	name, def, ok := strings.Cut(s, ":")
	return name, def, ok
}

func compileOne(x string) (segment, error) {
	switch x {
	case "req.id":
		return segment{kind: exReqID}, nil
	case "req.ip", "req.ip_address":
		return segment{kind: exReqIP}, nil
	case "req.path":
		return segment{kind: exReqPath}, nil
	case "req.uri":
		return segment{kind: exReqURI}, nil
	case "req.host":
		return segment{kind: exReqHost}, nil
	case "req.domain":
		return segment{kind: exReqDomain}, nil
	case "req.method":
		return segment{kind: exReqMethod}, nil
	case "req.protocol":
		return segment{kind: exReqProtocol}, nil
	case "req.version":
		return segment{kind: exReqVersion}, nil
	case "apikey.id", "apikey.clientId":
		return segment{kind: exKeyID, def: "no-apikey"}, nil
	case "apikey.name":
		return segment{kind: exKeyName, def: "no-apikey"}, nil
	case "route.id", "service.id":
		return segment{kind: exRouteID}, nil
	case "route.name", "service.name":
		return segment{kind: exRouteName}, nil
	case "date", "now":
		return segment{kind: exDate}, nil
	case "date.epoch_ms", "now.epoch_ms":
		return segment{kind: exDateMs}, nil
	case "date.epoch_sec", "now.epoch_sec":
		return segment{kind: exDateSec}, nil
	}
	for _, p := range []struct {
		prefix, missing string
		kind            exprKind
		lower           bool
	}{
		{"req.headers.", "no-header-", exReqHeader, true},
		{"req.query.", "no-query-", exReqQuery, false},
		{"req.cookies.", "no-query-", exReqCookie, false}, // sic: Otoroshi's missing-cookie text
		{"apikey.metadata.", "no-meta-", exKeyMeta, false},
		{"route.metadata.", "no-meta-", exRouteMeta, false},
		{"service.metadata.", "no-meta-", exRouteMeta, false},
	} {
		if rest, ok := strings.CutPrefix(x, p.prefix); ok && rest != "" {
			name, def, hasDef := splitDefault(rest)
			if !hasDef {
				def = p.missing + name
			}
			if p.lower {
				name = strings.ToLower(name)
			}
			return segment{kind: p.kind, arg: name, def: def}, nil
		}
	}
	if rest, ok := strings.CutPrefix(x, "apikey.tags['"); ok && strings.HasSuffix(rest, "]") {
		rest = strings.TrimSuffix(rest, "]")
		idx, def, hasDef := strings.Cut(rest, ":")
		idx = strings.TrimSuffix(idx, "'")
		n, err := strconv.Atoi(idx)
		if err != nil || n < 0 {
			return segment{}, fmt.Errorf("%w: ${%s}: the tag index must be a number", ErrExpression, x)
		}
		if hasDef {
			def = strings.Trim(def, "'")
		} else {
			def = "no-tag-" + idx
		}
		return segment{kind: exKeyTag, idx: n, def: def}, nil
	}
	for _, p := range []string{"date.format('", "now.format('"} {
		if rest, ok := strings.CutPrefix(x, p); ok && strings.HasSuffix(rest, "')") {
			layout, err := jodaLayout(strings.TrimSuffix(rest, "')"))
			if err != nil {
				return segment{}, fmt.Errorf("%w: ${%s}: %v", ErrExpression, x, err)
			}
			return segment{kind: exDateFmt, arg: layout}, nil
		}
	}
	if name, ok := strings.CutPrefix(x, "env."); ok && name != "" {
		// Resolved at publish, as a constant: the process environment does not change.
		name, def, hasDef := splitDefault(name)
		if v, ok := os.LookupEnv(name); ok {
			return segment{kind: exLiteral, lit: v}, nil
		}
		if !hasDef {
			def = "no-env-var-" + name
		}
		return segment{kind: exLiteral, lit: def}, nil
	}
	if v, ok := configValue(x); ok {
		return segment{kind: exLiteral, lit: v}, nil
	}
	return segment{}, fmt.Errorf("%w: ${%s} (supported: req.*, apikey.*, route.*, service.*, date*, now*, env.*, config.app.claim.sharedKey)", ErrExpression, x)
}

// configValue resolves the few ${config.*} paths Otoroshi's own exports use,
// to the value Otoroshi's application.conf gives them.
func configValue(x string) (string, bool) {
	switch x {
	case "config.app.claim.sharedKey", "config.otoroshi.claim.sharedKey":
		// application.conf: sharedKey = "secret", sharedKey = ${?CLAIM_SHAREDKEY}
		if v, ok := os.LookupEnv("CLAIM_SHAREDKEY"); ok {
			return v, true
		}
		return "secret", true
	}
	return "", false
}

// jodaLayout translates the common letters of a Joda-Time pattern into a Go
// time layout.
func jodaLayout(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		n := 1
		for i+n < len(p) && p[i+n] == c {
			n++
		}
		tok := p[i : i+n]
		switch {
		case c == '\'':
			j := strings.IndexByte(p[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("unterminated quote in %q", p)
			}
			b.WriteString(p[i+1 : i+1+j])
			i += j + 2
			continue
		case tok == "yyyy" || tok == "YYYY":
			b.WriteString("2006")
		case tok == "yy":
			b.WriteString("06")
		case tok == "MM":
			b.WriteString("01")
		case tok == "MMM":
			b.WriteString("Jan")
		case tok == "dd":
			b.WriteString("02")
		case tok == "HH":
			b.WriteString("15")
		case tok == "mm":
			b.WriteString("04")
		case tok == "ss":
			b.WriteString("05")
		case tok == "SSS":
			b.WriteString(".000")
		case tok == "Z" || tok == "ZZ":
			b.WriteString("Z07:00")
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			return "", fmt.Errorf("pattern letters %q are not supported", tok)
		default:
			b.WriteString(tok)
		}
		i += n
	}
	l := b.String()
	// ".000" after a separator other than '.' (ss,SSS): keep Joda's separator.
	l = strings.Replace(l, ",.000", ",000", 1)
	return l, nil
}

// Append evaluates e for c and appends the result to dst. Runs on the loop;
// no allocation (date formats use time.AppendFormat).
func (e *Expr) Append(dst []byte, c *Ctx) []byte {
	if e.static {
		return append(dst, e.lit...)
	}
	for i := range e.segs {
		dst = e.segs[i].append(dst, c)
	}
	return dst
}

func (s *segment) append(dst []byte, c *Ctx) []byte {
	buf := c.Buf
	req := c.Req
	switch s.kind {
	case exLiteral:
		return append(dst, s.lit...)
	case exReqID:
		return strconv.AppendUint(dst, c.ID, 10)
	case exReqIP:
		return c.Remote.AppendTo(dst)
	case exReqPath:
		if req.Path.Len() == 0 {
			return append(dst, '/')
		}
		return append(dst, req.Path.Bytes(buf)...)
	case exReqURI:
		if req.Path.Len() == 0 {
			dst = append(dst, '/')
		} else {
			dst = append(dst, req.Path.Bytes(buf)...)
		}
		if req.Query.Len() > 0 {
			dst = append(dst, '?')
			dst = append(dst, req.Query.Bytes(buf)...)
		}
		return dst
	case exReqHost:
		return append(dst, req.Host.Bytes(buf)...)
	case exReqDomain:
		return append(dst, hostOnly(req.Host.Bytes(buf))...)
	case exReqMethod:
		return append(dst, req.Method.Bytes(buf)...)
	case exReqProtocol:
		if c.TLS {
			return append(dst, "https"...)
		}
		return append(dst, "http"...)
	case exReqVersion:
		if req.Version == httpparse.HTTP10 {
			return append(dst, "HTTP/1.0"...)
		}
		return append(dst, "HTTP/1.1"...)
	case exReqHeader:
		if v, ok := req.Lookup(buf, s.arg); ok {
			return append(dst, v.Bytes(buf)...)
		}
	case exReqQuery:
		if v, ok := QueryValue(req.Query.Bytes(buf), s.arg); ok {
			return append(dst, v...)
		}
	case exReqCookie:
		if v, ok := CookieValue(req, buf, s.arg); ok {
			return append(dst, v...)
		}
	case exKeyID:
		if c.Key != nil {
			return append(dst, c.Key.ClientID...)
		}
	case exKeyName:
		if c.Key != nil {
			return append(dst, c.Key.ClientName...)
		}
	case exKeyMeta:
		if c.Key != nil {
			if v, ok := c.Key.Metadata().Get(s.arg); ok {
				return append(dst, v...)
			}
		}
	case exKeyTag:
		if c.Key != nil && s.idx < len(c.Key.Tags()) {
			return append(dst, c.Key.Tags()[s.idx]...)
		}
	case exRouteID:
		if c.Route != nil {
			return append(dst, c.Route.ID...)
		}
	case exRouteName:
		if c.Route != nil {
			return append(dst, c.Route.Name...)
		}
	case exRouteMeta:
		if c.Route != nil && c.Route.Route != nil {
			if v, ok := c.Route.Route.Metadata[s.arg]; ok {
				return append(dst, v...)
			}
		}
	case exDate:
		return c.Now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	case exDateMs:
		return strconv.AppendInt(dst, c.Now.UnixMilli(), 10)
	case exDateSec:
		return strconv.AppendInt(dst, c.Now.Unix(), 10)
	case exDateFmt:
		return c.Now.UTC().AppendFormat(dst, s.arg)
	}
	return append(dst, s.def...)
}

// hostOnly returns host without its port (and brackets kept for IPv6).
func hostOnly(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		for i, c := range h {
			if c == ']' {
				return h[:i+1]
			}
		}
		return h
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == ':' {
			return h[:i]
		}
	}
	return h
}

// QueryValue returns the raw (not unescaped) value of the first query
// parameter named name in q (the query without '?'). No allocation.
func QueryValue(q []byte, name string) ([]byte, bool) {
	for len(q) > 0 {
		var kv []byte
		if i := indexByte(q, '&'); i >= 0 {
			kv, q = q[:i], q[i+1:]
		} else {
			kv, q = q, nil
		}
		k, v := kv, []byte(nil)
		if i := indexByte(kv, '='); i >= 0 {
			k, v = kv[:i], kv[i+1:]
		}
		if string(k) == name {
			return v, true
		}
	}
	return nil, false
}

// CookieValue returns the value of the first cookie named name in the
// request's Cookie fields. No allocation.
func CookieValue(req *httpparse.Request, buf []byte, name string) ([]byte, bool) {
	for i := range req.Headers {
		h := &req.Headers[i]
		if h.Name.Len() != 6 || !httpparse.EqualFold(h.Name.Bytes(buf), "cookie") {
			continue
		}
		v := h.Value.Bytes(buf)
		for len(v) > 0 {
			var part []byte
			if j := indexByte(v, ';'); j >= 0 {
				part, v = v[:j], v[j+1:]
			} else {
				part, v = v, nil
			}
			for len(part) > 0 && part[0] == ' ' {
				part = part[1:]
			}
			if j := indexByte(part, '='); j >= 0 && string(part[:j]) == name {
				return part[j+1:], true
			}
		}
	}
	return nil, false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// nowOr returns t, or the current time when t is zero.
func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
