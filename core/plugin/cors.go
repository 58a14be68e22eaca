package plugin

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/torii-gateway/torii/httpparse"
)

// cors is Otoroshi's Cors plugin (models/cors.scala): a preflight (OPTIONS
// with Access-Control-Request-Method) is answered 204 with the CORS fields,
// or 404 errors.cors.error when the origin, method or requested headers are
// not allowed; other responses get the CORS fields added.
type cors struct {
	origin       Expr
	originLit    string // lower-case allow_origin when static; "*" is any
	allowHeaders []string
	allowMethods []string
	anyHeader    bool
	excluded     []*regexp.Regexp
	fields       string // the fixed fields after Access-Control-Allow-Origin
}

func compileCors(f *fields) *cors {
	c := &cors{}
	origin := f.str("allow_origin", "*")
	if !validFieldValue(origin) {
		f.fail("allow_origin", "the value holds a control character")
	}
	c.origin = f.expr("allow_origin", origin)
	if c.origin.needsRequest() {
		f.fail("allow_origin", "%q reads the request, which is no longer available when the response head is written", origin)
	}
	c.originLit = strings.ToLower(origin)
	expose := f.strs("expose_headers")
	c.allowHeaders = f.strs("allow_headers")
	c.allowMethods = f.strs("allow_methods")
	for i, h := range c.allowHeaders {
		c.allowHeaders[i] = strings.ToLower(strings.TrimSpace(h))
		if c.allowHeaders[i] == "*" {
			c.anyHeader = true
		}
	}
	for i, m := range c.allowMethods {
		c.allowMethods[i] = strings.ToLower(strings.TrimSpace(m))
	}
	for i, p := range f.strs("excluded_patterns") {
		re, err := regexp.Compile("^(?:" + p + ")$")
		if err != nil {
			f.fail(fmt.Sprintf("excluded_patterns[%d]", i), "bad regular expression %q: %v", p, err)
			continue
		}
		c.excluded = append(c.excluded, re)
	}
	creds := true
	f.get("allow_credentials", &creds)
	var maxAge *int64
	f.get("max_age", &maxAge)
	for _, l := range [][]string{expose, c.allowHeaders, c.allowMethods} {
		for _, v := range l {
			if !validFieldValue(v) || strings.Contains(v, ",") {
				f.fail("allow_headers", "bad entry %q", v)
			}
		}
	}
	var b strings.Builder
	b.WriteString("Access-Control-Allow-Credentials: " + strconv.FormatBool(creds) + "\r\n")
	if len(expose) > 0 {
		b.WriteString("Access-Control-Expose-Headers: " + strings.Join(expose, ", ") + "\r\n")
	}
	if len(c.allowHeaders) > 0 {
		b.WriteString("Access-Control-Allow-Headers: " + strings.Join(c.allowHeaders, ", ") + "\r\n")
	}
	if len(c.allowMethods) > 0 {
		b.WriteString("Access-Control-Allow-Methods: " + strings.Join(c.allowMethods, ", ") + "\r\n")
	}
	if maxAge != nil {
		if *maxAge < 0 {
			f.fail("max_age", "must be >= 0 seconds, got %d", *maxAge)
		}
		b.WriteString("Access-Control-Max-Age: " + strconv.FormatInt(*maxAge, 10) + "\r\n")
	}
	c.fields = b.String()
	return c
}

// applies reports whether the request path is not excluded.
func (c *cors) applies(x *Ctx) bool {
	if len(c.excluded) == 0 {
		return true
	}
	p := x.Req.Path.Bytes(x.Buf)
	for _, re := range c.excluded {
		if re.Match(p) {
			return false
		}
	}
	return true
}

func (c *cors) check(x *Ctx, _ *Exchange) Verdict {
	if x.Req.MethodKind != httpparse.MethodOptions {
		return Verdict{}
	}
	m, ok := x.Req.Lookup(x.Buf, "access-control-request-method")
	if !ok {
		return Verdict{}
	}
	if !c.pass(x, m.Bytes(x.Buf)) {
		return Verdict{Refuse: RefusalCors}
	}
	return Verdict{Respond: true, answer: c}
}

// pass is Otoroshi's !shouldNotPass for a preflight.
func (c *cors) pass(x *Ctx, method []byte) bool {
	if c.originLit != "*" {
		o, ok := x.Req.Lookup(x.Buf, "origin")
		if !ok || !httpparse.EqualFold(o.Bytes(x.Buf), c.originLit) {
			return false
		}
	}
	if !inFold(c.allowMethods, trimSpace(method)) {
		return false
	}
	_, hasAuth := x.Req.Lookup(x.Buf, "authorization")
	_, hasCookie := x.Req.Lookup(x.Buf, "cookie")
	if c.anyHeader && !hasAuth && !hasCookie {
		return true
	}
	h, ok := x.Req.Lookup(x.Buf, "access-control-request-headers")
	if !ok {
		return true
	}
	v := h.Bytes(x.Buf)
	for len(v) > 0 {
		var item []byte
		if i := indexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, nil
		}
		if item = trimSpace(item); len(item) > 0 && !inFold(c.allowHeaders, item) {
			return false
		}
	}
	return true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func (c *cors) appendAnswer(dst []byte, x *Ctx) []byte {
	dst = append(dst, "HTTP/1.1 204 No Content\r\n"...)
	if !c.applies(x) {
		return dst
	}
	return c.appendHeaders(dst, x)
}

// appendHeaders appends the CORS fields.
func (c *cors) appendHeaders(dst []byte, x *Ctx) []byte {
	dst = append(dst, "Access-Control-Allow-Origin: "...)
	dst = c.origin.Append(dst, x)
	dst = append(dst, "\r\n"...)
	return append(dst, c.fields...)
}
