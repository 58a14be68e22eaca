package plugin

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/torii-gateway/torii/httpparse"
)

// Refusal is an error answer of an access plugin: its status, Otoroshi
// cause id and message.
type Refusal uint8

// The refusals, with Otoroshi's statuses and cause ids.
const (
	RefusalNone            Refusal = iota
	RefusalMaintenance             // 503 errors.service.in.maintenance
	RefusalBuild                   // 503 errors.service.under.construction
	RefusalHTTP10                  // 503 errors.http.1_0.not.allowed
	RefusalMethod                  // 405 errors.method.not.allowed
	RefusalIP                      // 403 errors.ip.address.not.allowed
	RefusalCors                    // 404 errors.cors.error
	RefusalHeaders                 // 400 errors.bad.request (HeadersValidation)
	RefusalNotSecured              // 502 errors.service.not.secured (OtoroshiChallenge)
	RefusalTokenMissing            // 400 error.expected.token.not.found (JwtVerification, strict)
	RefusalBadToken                // 400 error.bad.token (JwtVerification)
	RefusalVerifierMissing         // 500 error.missing.globaljwtverifier.id
	RefusalClientCert              // 403 forbidden (NgHasClientCert*Validator: no verified client certificate)
	RefusalMisdirected             // 421 errors.misdirected.request (mTLS route: Host is not the TLS server name)
	Refusals
)

// RefusalInfo is the status, cause id and message of each Refusal, as
// Otoroshi's plugins answer them.
var RefusalInfo = [Refusals]struct {
	Status         int
	Cause, Message string
}{
	RefusalMaintenance:     {503, "errors.service.in.maintenance", "Service in maintenance mode"},
	RefusalBuild:           {503, "errors.service.under.construction", "Service under construction"},
	RefusalHTTP10:          {503, "errors.http.1_0.not.allowed", "HTTP/1.0 not allowed"},
	RefusalMethod:          {405, "errors.method.not.allowed", "Method not allowed"},
	RefusalIP:              {403, "errors.ip.address.not.allowed", "Your IP address is not allowed"},
	RefusalCors:            {404, "errors.cors.error", "Cors error"},
	RefusalHeaders:         {400, "errors.bad.request", "bad request"},
	RefusalNotSecured:      {502, "errors.service.not.secured", "Backend server does not seems to be secured. Cancelling request !"},
	RefusalTokenMissing:    {400, "error.expected.token.not.found", "error.expected.token.not.found"},
	RefusalBadToken:        {400, "error.bad.token", "error.bad.token"},
	RefusalVerifierMissing: {500, "error.missing.globaljwtverifier.id", "error.missing.globaljwtverifier.id"},
	RefusalClientCert:      {403, "forbidden", "forbidden"},
	RefusalMisdirected:     {421, "errors.misdirected.request", "Misdirected request: Host does not match the TLS server name of this connection"},
}

// Verdict is what Access decided.
type Verdict struct {
	// Refuse is the error to answer, or RefusalNone.
	Refuse Refusal
	// Respond is set when the chain answers itself (a redirection or a CORS
	// preflight): write AppendAnswer's head.
	Respond bool
	answer  answerer
}

type answerer interface {
	appendAnswer(dst []byte, x *Ctx) []byte
	status() int
}

// Status is the status of a Respond verdict's answer.
func (v Verdict) Status() int {
	if v.answer == nil {
		return 0
	}
	return v.answer.status()
}

func (r *redirect) status() int { return r.code }

func (c *cors) status() int { return 204 }

// accessCheck is one access plugin.
type accessCheck interface {
	check(x *Ctx, xs *Exchange) Verdict
}

// Access runs the access plugins in route order; the first that does not
// let the request through decides. It records in xs what the response hooks
// need to know of the request. Runs on the loop; no allocation.
func (c *Chain) Access(x *Ctx, xs *Exchange) Verdict {
	if c == nil {
		return Verdict{}
	}
	c.filter(x, xs)
	if c.gzip != nil {
		c.gzipRequest(x, xs)
	}
	if c.cors != nil {
		xs.corsOff = !c.cors.applies(x)
	}
	for i := range c.access {
		a := &c.access[i]
		if xs.off&a.bit != 0 {
			continue
		}
		if v := a.check.check(x, xs); v.Refuse != RefusalNone || v.Respond {
			return v
		}
	}
	return Verdict{}
}

// AppendAnswer appends the status line and fields of a Respond verdict,
// each ending in CRLF, without Content-Length, Connection or the final
// CRLF, which the engine adds. The body is empty.
func (v Verdict) AppendAnswer(dst []byte, x *Ctx) []byte {
	if v.answer == nil {
		return dst
	}
	return v.answer.appendAnswer(dst, x)
}

type refuser Refusal

func (r refuser) check(*Ctx, *Exchange) Verdict { return Verdict{Refuse: Refusal(r)} }

type http10 struct{}

func (http10) check(x *Ctx, xs *Exchange) Verdict {
	if x.Req.Version == httpparse.HTTP10 {
		return Verdict{Refuse: RefusalHTTP10}
	}
	return Verdict{}
}

type readOnly struct{}

func (readOnly) check(x *Ctx, xs *Exchange) Verdict {
	switch x.Req.MethodKind {
	case httpparse.MethodGet, httpparse.MethodHead, httpparse.MethodOptions:
		return Verdict{}
	}
	return Verdict{Refuse: RefusalMethod}
}

// methods is AllowHttpMethods: allowed (when not empty) and forbidden,
// lower-case.
type methods struct{ allowed, forbidden []string }

func (m *methods) check(x *Ctx, xs *Exchange) Verdict {
	meth := x.Req.Method.Bytes(x.Buf)
	if (len(m.allowed) > 0 && !inFold(m.allowed, meth)) || inFold(m.forbidden, meth) {
		return Verdict{Refuse: RefusalMethod}
	}
	return Verdict{}
}

// ipList is IpAddressAllowedList (allow) or IpAddressBlockList.
type ipList struct {
	allow    bool
	prefixes []netip.Prefix
	wild     []string // Otoroshi's wildcard patterns ("192.168.1.*")
}

func (l *ipList) check(x *Ctx, xs *Exchange) Verdict {
	in := l.contains(x.Remote)
	if in != l.allow {
		return Verdict{Refuse: RefusalIP}
	}
	return Verdict{}
}

func (l *ipList) contains(a netip.Addr) bool {
	for _, p := range l.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	if len(l.wild) > 0 {
		var b [64]byte
		s := a.AppendTo(b[:0])
		for _, w := range l.wild {
			if wildMatch(w, s) {
				return true
			}
		}
	}
	return false
}

// wildMatch matches s against pattern p where '*' is any run of bytes.
func wildMatch(p string, s []byte) bool {
	px, sx := 0, 0
	nextP, nextS := -1, -1
	for px < len(p) || sx < len(s) {
		if px < len(p) {
			if p[px] == '*' {
				nextP, nextS = px, sx+1
				px++
				continue
			}
			if sx < len(s) && p[px] == s[sx] {
				px++
				sx++
				continue
			}
		}
		if nextS > 0 && nextS <= len(s) {
			px, sx = nextP, nextS
			continue
		}
		return false
	}
	return true
}

// redirect is Redirection.
type redirect struct {
	code int
	to   Expr
}

func (r *redirect) check(*Ctx, *Exchange) Verdict { return Verdict{Respond: true, answer: r} }

func (r *redirect) appendAnswer(dst []byte, x *Ctx) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(r.code), 10)
	dst = append(dst, ' ')
	dst = append(dst, redirectText(r.code)...)
	dst = append(dst, "\r\nLocation: "...)
	dst = r.to.Append(dst, x)
	return append(dst, "\r\n"...)
}

func redirectText(code int) string {
	switch code {
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 303:
		return "See Other"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	}
	return "Redirect"
}

// headersValidation is HeadersValidation: every configured field must be
// present and match.
type headersValidation struct{ rules []headerRule }

type ruleKind uint8

const (
	ruleEqual ruleKind = iota
	ruleRegex
	ruleRegexNot
	ruleContains
	ruleContainsNot
	ruleNot
	ruleIn
	ruleNotIn
)

type headerRule struct {
	lower string
	kind  ruleKind
	value Expr // for ruleEqual, ruleNot, ruleContains(Not)
	re    *regexp.Regexp
	set   []string
}

func (h *headersValidation) check(x *Ctx, xs *Exchange) Verdict {
	var scratch [256]byte
	for i := range h.rules {
		r := &h.rules[i]
		span, ok := x.Req.Lookup(x.Buf, r.lower)
		if !ok {
			return Verdict{Refuse: RefusalHeaders}
		}
		v := span.Bytes(x.Buf)
		var pass bool
		switch r.kind {
		case ruleRegex:
			pass = r.re.Match(v)
		case ruleRegexNot:
			pass = !r.re.Match(v)
		case ruleIn:
			pass = inExact(r.set, v)
		case ruleNotIn:
			pass = !inExact(r.set, v)
		default:
			want := r.value.Append(scratch[:0], x)
			switch r.kind {
			case ruleEqual:
				pass = string(v) == string(want)
			case ruleNot:
				pass = string(v) != string(want)
			case ruleContains:
				pass = strings.Contains(string(v), string(want))
			case ruleContainsNot:
				pass = !strings.Contains(string(v), string(want))
			}
		}
		if !pass {
			return Verdict{Refuse: RefusalHeaders}
		}
	}
	return Verdict{}
}

func inExact(set []string, v []byte) bool {
	for _, s := range set {
		if s == string(v) {
			return true
		}
	}
	return false
}

// wildcardRegexp turns Otoroshi's wildcard syntax into an anchored regexp.
func wildcardRegexp(w string) string {
	return "^" + strings.ReplaceAll(regexp.QuoteMeta(w), `\*`, ".*") + "$"
}

func compileRule(f *fields, field, lower, raw string) (headerRule, bool) {
	r := headerRule{lower: lower}
	t := strings.TrimSpace(raw)
	inner := func(prefix string) (string, bool) {
		if strings.HasPrefix(t, prefix) && strings.HasSuffix(t, ")") {
			return t[len(prefix) : len(t)-1], true
		}
		return "", false
	}
	re := func(expr string) bool {
		var err error
		r.re, err = regexp.Compile("^(?:" + expr + ")$")
		if err != nil {
			f.fail(field, "bad regular expression %q: %v", expr, err)
			return false
		}
		return true
	}
	if s, ok := inner("Regex("); ok {
		r.kind = ruleRegex
		return r, re(s)
	}
	if s, ok := inner("RegexNot("); ok {
		r.kind = ruleRegexNot
		return r, re(s)
	}
	if s, ok := inner("Wildcard("); ok {
		r.kind = ruleRegex
		return r, re(wildcardRegexp(s)[1 : len(wildcardRegexp(s))-1])
	}
	if s, ok := inner("WildcardNot("); ok {
		r.kind = ruleRegexNot
		return r, re(wildcardRegexp(s)[1 : len(wildcardRegexp(s))-1])
	}
	for _, p := range []struct {
		prefix string
		kind   ruleKind
	}{{"ContainsNot(", ruleContainsNot}, {"Contains(", ruleContains}, {"Not(", ruleNot}} {
		if s, ok := inner(p.prefix); ok {
			r.kind, r.value = p.kind, f.expr(field, s)
			return r, true
		}
	}
	for _, p := range []struct {
		prefix string
		kind   ruleKind
	}{{"NotContainedIn(", ruleNotIn}, {"ContainedIn(", ruleIn}} {
		if s, ok := inner(p.prefix); ok {
			r.kind = p.kind
			for _, v := range strings.Split(s, ",") {
				r.set = append(r.set, strings.TrimSpace(v))
			}
			return r, true
		}
	}
	r.kind, r.value = ruleEqual, f.expr(field, raw)
	return r, true
}

// compileAccess compiles the access plugins other than Cors; nil when the
// plugin is not one of them or its config is bad (f records why).
func compileAccess(f *fields) accessCheck {
	switch f.name {
	case "MaintenanceMode":
		return refuser(RefusalMaintenance)
	case "BuildMode":
		return refuser(RefusalBuild)
	case "DisableHttp10":
		return http10{}
	case "ReadOnlyCalls":
		return readOnly{}
	case "AllowHttpMethods":
		m := &methods{}
		for _, field := range []string{"allowed", "forbidden"} {
			for i, v := range f.strs(field) {
				if !validFieldName(v) {
					f.fail(fmt.Sprintf("%s[%d]", field, i), "%q is not a method name", v)
					continue
				}
				if field == "allowed" {
					m.allowed = append(m.allowed, strings.ToLower(v))
				} else {
					m.forbidden = append(m.forbidden, strings.ToLower(v))
				}
			}
		}
		return m
	case "IpAddressAllowedList", "IpAddressBlockList":
		l := &ipList{allow: f.name == "IpAddressAllowedList"}
		for i, a := range f.strs("addresses") {
			a = strings.TrimSpace(a)
			field := fmt.Sprintf("addresses[%d]", i)
			switch {
			case strings.Contains(a, "/"):
				p, err := netip.ParsePrefix(a)
				if err != nil {
					f.fail(field, "bad CIDR %q: %v", a, err)
					continue
				}
				l.prefixes = append(l.prefixes, p.Masked())
			case strings.Contains(a, "*"):
				l.wild = append(l.wild, a)
			default:
				ip, err := netip.ParseAddr(a)
				if err != nil {
					f.fail(field, "bad IP address %q: %v", a, err)
					continue
				}
				l.prefixes = append(l.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			}
		}
		return l
	case "Redirection":
		r := &redirect{code: 303}
		f.get("code", &r.code)
		switch r.code {
		case 301, 302, 303, 307, 308:
		default:
			f.fail("code", "must be one of 301, 302, 303, 307, 308, got %d", r.code)
		}
		to := strings.TrimSpace(f.str("to", ""))
		if to == "" {
			to = "https://www.otoroshi.io"
		}
		if !validFieldValue(to) {
			f.fail("to", "the value holds a control character")
		}
		r.to = f.expr("to", to)
		return r
	case "HeadersValidation":
		h := f.headers("headers")
		v := &headersValidation{}
		for _, name := range sortedHeaders(h) {
			field := "headers." + name
			if !validFieldName(name) {
				f.fail(field, "%q is not a valid header name", name)
				continue
			}
			if r, ok := compileRule(f, field, strings.ToLower(name), h[name]); ok {
				v.rules = append(v.rules, r)
			}
		}
		return v
	}
	return nil
}
