package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

// Ctx is what a hook reads about the current request. The engine fills one
// per exchange on the loop; Req and Buf are valid only during the call.
type Ctx struct {
	Req    *httpparse.Request
	Buf    []byte
	Remote netip.Addr       // the client address the IP lists judge
	ID     uint64           // the request id sent as Otoroshi-Request-Id
	Key    *apikey.Key      // the API key the request authenticated with, or nil
	User   *privateapp.User // the private-app user (AuthModule), or nil
	// Verifiers are the snapshot's jwtVerifiers (JwtVerification, JwtSigner).
	Verifiers *VerifierSet
	Route     *route.Compiled // the matched route
	Now       time.Time
	TLS       bool // the client connection is TLS
	// SNI is the lower-case TLS server name and Cert the client certificate the TLS listener
	// reported (clientcert.go); HTTPSPort is the TLS listener's port, for ForceHttpsTraffic.
	SNI       string
	Cert      ClientCert
	HTTPSPort int
}

// Names lists the plugins this package runs, by Otoroshi short name.
var Names = []string{
	"AdditionalHeadersIn", "AdditionalHeadersOut", "MissingHeadersIn", "MissingHeadersOut",
	"RemoveHeadersIn", "RemoveHeadersOut", "HeadersValidation",
	"Cors", "Redirection", "MaintenanceMode", "BuildMode", "DisableHttp10",
	"ReadOnlyCalls", "AllowHttpMethods", "IpAddressAllowedList", "IpAddressBlockList",
	"OtoroshiChallenge", "OtoroshiInfos", "JwtVerification", "JwtSigner",
	"GzipResponseCompressor",
}

// Runs reports whether this package runs the plugin named name.
func Runs(name string) bool {
	for _, n := range Names {
		if n == name {
			return true
		}
	}
	return false
}

// Chain is the compiled plugins of one route. Immutable; safe for
// concurrent use. A nil *Chain runs nothing.
type Chain struct {
	access    []accessEntry
	reqDrop   []dropName // request fields not forwarded
	reqAdd    []headerAdd
	respDrop  []dropName
	respAdd   []headerAdd
	host      *Expr // AdditionalHeadersIn's Host, which replaces the forwarded Host
	hostBit   uint64
	cors      *cors
	corsBit   uint64
	challenge *challenge
	chalBit   uint64
	infos     *infos
	infosBit  uint64
	// jwt is set when a JwtVerification or JwtSigner step may send a token
	// on (Exchange.jwt*).
	jwt         bool
	certHeaders bool
	certBit     uint64
	gzip        *gzipConf // GzipResponseCompressor (gzip.go)
	// filters are the steps with include or exclude patterns; each has
	// its bit, set in Exchange.off when the request path does not match.
	filters []stepFilter
}

// stepFilter is the include and exclude path patterns of one step
// (Otoroshi's NgPluginInstance.matches: included when include is empty or
// one matches, and no exclude matches).
type stepFilter struct {
	bit              uint64
	include, exclude []*regexp.Regexp
}

// accessEntry is one access plugin and its step's bit.
type accessEntry struct {
	check accessCheck
	bit   uint64
}

// dropName is a lower-case field name a step removes.
type dropName struct {
	lower string
	bit   uint64
}

// headerAdd is one field an Additional or Missing plugin adds.
type headerAdd struct {
	name        string // as configured
	lower       string
	value       Expr
	missingOnly bool
	bit         uint64
}

// Compile compiles the Chain of rt from its steps. It returns nil and no
// error when no step is one this package runs. The error joins one line per
// bad field, each naming plugins[i].config.<field> and the value.
func Compile(rt *route.Compiled) (*Chain, error) {
	c := &Chain{}
	any := false
	var errs []error
	for i := range rt.Steps {
		st := &rt.Steps[i]
		if !Runs(st.Name) {
			continue
		}
		any = true
		cfg, err := decodeConfig(st.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: plugins[%d].config (%s): %v", ErrConfig, st.Index, st.Name, err))
			continue
		}
		f := fields{idx: st.Index, name: st.Name, cfg: cfg}
		if len(st.Include) > 0 || len(st.Exclude) > 0 {
			f.bit = c.addFilter(&f, st.Include, st.Exclude)
		}
		c.add(&f, rt)
		errs = append(errs, f.errs...)
	}
	if !any {
		return nil, nil
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeConfig decodes a plugin's config object; null or absent is {}.
func decodeConfig(raw json.RawMessage) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("must be a JSON object: %v", err)
	}
	return m, nil
}

// fields reads one plugin's config, collecting an error per bad field.
type fields struct {
	idx  int
	bit  uint64 // the step's filter bit, 0 when it runs on every path
	name string
	cfg  map[string]json.RawMessage
	errs []error
}

func (f *fields) fail(field string, format string, args ...any) {
	f.errs = append(f.errs, fmt.Errorf("%w: plugins[%d].config.%s (%s): %s", ErrConfig, f.idx, field, f.name, fmt.Sprintf(format, args...)))
}

// get decodes field into v when present and not null; false when absent.
func (f *fields) get(field string, v any) bool {
	raw, ok := f.cfg[field]
	if !ok || string(raw) == "null" {
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		f.fail(field, "bad value %s: %v", raw, err)
		return false
	}
	return true
}

func (f *fields) str(field, def string) string {
	s := def
	f.get(field, &s)
	return s
}

func (f *fields) strs(field string) []string {
	var s []string
	f.get(field, &s)
	return s
}

func (f *fields) headers(field string) map[string]string {
	var h map[string]string
	f.get(field, &h)
	return h
}

func (f *fields) expr(field, s string) Expr {
	e, err := CompileExpr(s)
	if err != nil {
		f.fail(field, "%v", err)
	}
	return e
}

// sortedHeaders returns h's names in order, so that heads are stable.
func sortedHeaders(h map[string]string) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// maxFilters is the number of steps of one route that may have include or
// exclude patterns (one bit each in Exchange.off).
const maxFilters = 64

func (c *Chain) addFilter(f *fields, include, exclude []string) uint64 {
	if len(c.filters) == maxFilters {
		f.errs = append(f.errs, fmt.Errorf("%w: plugins[%d].include (%s): at most %d plugins of a route may have include or exclude patterns", ErrConfig, f.idx, f.name, maxFilters))
		return 0
	}
	sf := stepFilter{bit: 1 << len(c.filters)}
	for _, l := range []struct {
		field string
		pats  []string
		dst   *[]*regexp.Regexp
	}{{"include", include, &sf.include}, {"exclude", exclude, &sf.exclude}} {
		for i, p := range l.pats {
			re, err := regexp.Compile("^(?:" + p + ")$")
			if err != nil {
				f.errs = append(f.errs, fmt.Errorf("%w: plugins[%d].%s[%d] (%s): bad regular expression %q: %v", ErrConfig, f.idx, l.field, i, f.name, p, err))
				continue
			}
			*l.dst = append(*l.dst, re)
		}
	}
	c.filters = append(c.filters, sf)
	return sf.bit
}

// filter sets in xs.off the bits of the steps whose patterns exclude the
// request's path.
func (c *Chain) filter(x *Ctx, xs *Exchange) {
	xs.off = 0
	if len(c.filters) == 0 {
		return
	}
	p := x.Req.Path.Bytes(x.Buf)
	if len(p) == 0 {
		p = slash
	}
	for i := range c.filters {
		sf := &c.filters[i]
		in := len(sf.include) == 0
		for _, re := range sf.include {
			if re.Match(p) {
				in = true
				break
			}
		}
		for _, re := range sf.exclude {
			if in && re.Match(p) {
				in = false
			}
		}
		if !in {
			xs.off |= sf.bit
		}
	}
}

var slash = []byte("/")

func (c *Chain) add(f *fields, rt *route.Compiled) {
	switch f.name {
	case "NgHasClientCertValidator", "NgHasClientCertMatchingValidator":
		c.addClientCert(f)
	case "ForceHttpsTraffic":
		c.access = append(c.access, accessEntry{check: forceHTTPS{}, bit: f.bit})
	case "AdditionalHeadersIn", "MissingHeadersIn", "AdditionalHeadersOut", "MissingHeadersOut":
		h := f.headers("headers")
		in := strings.HasSuffix(f.name, "In")
		missing := strings.HasPrefix(f.name, "Missing")
		for _, name := range sortedHeaders(h) {
			field := "headers." + name
			if !validFieldName(name) {
				f.fail(field, "%q is not a valid header name", name)
				continue
			}
			v := f.expr(field, h[name])
			if !in && v.needsRequest() {
				f.fail(field, "%q reads the request, which is no longer available when the response head is written (only req.id, req.ip, req.protocol, apikey.*, route.*, date* work here)", h[name])
				continue
			}
			if !validFieldValue(h[name]) {
				f.fail(field, "the value holds a control character")
				continue
			}
			lower := strings.ToLower(name)
			if reserved(lower) {
				f.fail(field, "%s is set by the proxy and cannot be added", name)
				continue
			}
			if in && lower == "host" {
				if !missing {
					ve := v
					c.host, c.hostBit = &ve, f.bit
				}
				continue // a request always has a Host: MissingHeadersIn never adds it
			}
			add := headerAdd{name: name, lower: lower, value: v, missingOnly: missing, bit: f.bit}
			if in {
				if !missing {
					c.reqDrop = appendDrop(c.reqDrop, lower, f.bit)
				}
				c.reqAdd = append(c.reqAdd, add)
			} else {
				if !missing {
					c.respDrop = appendDrop(c.respDrop, lower, f.bit)
				}
				c.respAdd = append(c.respAdd, add)
			}
		}
	case "RemoveHeadersIn", "RemoveHeadersOut":
		names := f.strs("header_names")
		if len(names) == 0 {
			names = f.strs("headers")
		}
		if len(names) == 0 {
			names = f.strs("names")
		}
		for i, n := range names {
			if !validFieldName(n) {
				f.fail(fmt.Sprintf("header_names[%d]", i), "%q is not a valid header name", n)
				continue
			}
			if f.name == "RemoveHeadersIn" {
				c.reqDrop = appendDrop(c.reqDrop, strings.ToLower(n), f.bit)
			} else {
				c.respDrop = appendDrop(c.respDrop, strings.ToLower(n), f.bit)
			}
		}
	case "OtoroshiChallenge":
		if ch := compileChallenge(f, rt); ch != nil {
			c.challenge, c.chalBit = ch, f.bit
			// The protocol's fields never pass, whether or not the step runs.
			c.reqDrop = appendDrop(c.reqDrop, ch.reqLower, 0)
			c.respDrop = appendDrop(c.respDrop, ch.respLower, 0)
		}
	case "OtoroshiInfos":
		if in := compileInfos(f, rt); in != nil {
			c.infos, c.infosBit = in, f.bit
			c.reqDrop = appendDrop(c.reqDrop, in.lower, 0)
		}
	case "JwtVerification":
		j := &jwtVerification{ids: f.strs("verifiers")}
		if len(j.ids) == 0 {
			f.fail("verifiers", "names no jwtVerifiers entity")
		}
		for _, k := range []string{"custom_response", "custom_response_status", "custom_response_headers", "custom_response_body"} {
			var b any
			if f.get(k, &b) && b != false && k == "custom_response" {
				f.fail(k, "custom responses are not supported by Torii; the error is Otoroshi's default")
			}
		}
		c.access = append(c.access, accessEntry{j, f.bit})
		c.jwt = true
	case "JwtSigner":
		j := &jwtSigner{id: f.str("verifier", ""), replaceIfPresent: true, failIfPresent: true}
		f.get("replace_if_present", &j.replaceIfPresent)
		f.get("fail_if_present", &j.failIfPresent)
		if j.id == "" {
			f.fail("verifier", "names no jwtVerifiers entity")
		}
		c.access = append(c.access, accessEntry{j, f.bit})
		c.jwt = true
	case "GzipResponseCompressor":
		if c.gzip != nil {
			f.errs = append(f.errs, fmt.Errorf("%w: plugins[%d] (%s): a route has at most one", ErrConfig, f.idx, f.name))
			break
		}
		c.gzip = compileGzip(f)
	case "Cors":
		if co := compileCors(f); co != nil {
			c.cors, c.corsBit = co, f.bit
			c.access = append(c.access, accessEntry{co, f.bit})
		}
	default:
		if a := compileAccess(f); a != nil {
			c.access = append(c.access, accessEntry{a, f.bit})
		}
	}
}

// appendDrop adds lower to s with the bit of the step that removes it. A
// name two different steps remove is removed on every path (bit 0): one
// bit cannot say "when either runs", and removing a field the route's
// plugins name is the safe side.
func appendDrop(s []dropName, lower string, bit uint64) []dropName {
	for i := range s {
		if s[i].lower == lower {
			if s[i].bit != bit {
				s[i].bit = 0
			}
			return s
		}
	}
	return append(s, dropName{lower, bit})
}

// reserved reports whether a header plugin may not set the lower-case name:
// the framing and connection fields the proxy regenerates.
func reserved(lower string) bool {
	switch lower {
	case "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer":
		return true
	}
	return false
}

// validFieldName reports whether s is an RFC 9110 token.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// validFieldValue refuses CR, LF and NUL, which would split the head.
func validFieldValue(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}

// Exchange is the per-exchange state of a Chain: the challenge's state
// value. The engine keeps one in each connection and calls Reset per
// request; it is never shared.
type Exchange struct {
	state  [stateLen]byte
	active bool
	// off has the bits of the steps whose include/exclude patterns do not
	// match the request path: they do not run for this exchange.
	off uint64
	// corsOff is set when the request path matches an excluded pattern of
	// Cors: the response gets no CORS fields.
	corsOff bool
	// gzip is set when the request accepts gzip and GzipResponseCompressor
	// runs for it: the response may be compressed (Chain.Gzip).
	gzip bool
	// The token a JwtVerification (Sign, Transform) or JwtSigner sends on:
	// jwt[jwtAt:] in field jwtName after jwtPrefix, replacing the field
	// jwtDrop. jwt's buffer is kept across exchanges of the connection.
	jwt                         []byte
	jwtAt                       int
	jwtName, jwtPrefix, jwtDrop string
}

// Reset forgets the previous exchange.
func (x *Exchange) Reset() {
	x.active, x.corsOff, x.off, x.gzip = false, false, 0, false
	x.jwtName, x.jwtDrop = "", ""
	if cap(x.jwt) > 16<<10 {
		x.jwt = nil // an oversized token: do not keep its buffer
	}
}

// HasHost reports whether the route's AdditionalHeadersIn sets Host for
// this exchange.
func (c *Chain) HasHost(xs *Exchange) bool { return c != nil && c.host != nil && xs.off&c.hostBit == 0 }

// AppendHost appends the Host value AdditionalHeadersIn sets.
func (c *Chain) AppendHost(dst []byte, x *Ctx) []byte { return c.host.Append(dst, x) }

// DropRequest reports whether the client's request field named name (any
// case) is not forwarded: RemoveHeadersIn, a field AdditionalHeadersIn
// replaces, or one of the exchange protocol's fields. No allocation.
func (c *Chain) DropRequest(name []byte, xs *Exchange) bool {
	return c != nil && (len(c.reqDrop) > 0 && dropped(c.reqDrop, name, xs.off) || c.jwt && xs.dropJWT(name))
}

// DropResponse is DropRequest for the backend's response fields.
func (c *Chain) DropResponse(name []byte, xs *Exchange) bool {
	return c != nil && len(c.respDrop) > 0 && dropped(c.respDrop, name, xs.off)
}

func dropped(list []dropName, name []byte, off uint64) bool {
	for i := range list {
		d := &list[i]
		if len(d.lower) == len(name) && off&d.bit == 0 && httpparse.EqualFold(name, d.lower) {
			return true
		}
	}
	return false
}

func inFold(list []string, name []byte) bool {
	for _, l := range list {
		if len(l) == len(name) && httpparse.EqualFold(name, l) {
			return true
		}
	}
	return false
}

// AppendRequest appends the fields the chain adds to the request forwarded
// upstream, each "Name: value\r\n": Additional and Missing headers, the
// challenge's state and the info token. It records the challenge state in
// xs. Runs on the loop.
func (c *Chain) AppendRequest(dst []byte, x *Ctx, xs *Exchange) []byte {
	if c == nil {
		return dst
	}
	for i := range c.reqAdd {
		a := &c.reqAdd[i]
		if xs.off&a.bit != 0 {
			continue
		}
		if a.missingOnly {
			if _, ok := x.Req.Lookup(x.Buf, a.lower); ok {
				continue
			}
		}
		dst = append(dst, a.name...)
		dst = append(dst, ": "...)
		dst = a.value.Append(dst, x)
		dst = append(dst, "\r\n"...)
	}
	if c.challenge != nil && xs.off&c.chalBit == 0 {
		dst = c.challenge.appendState(dst, x, xs)
	}
	if c.infos != nil && xs.off&c.infosBit == 0 {
		dst = c.infos.appendClaim(dst, x)
	}
	if c.jwt {
		dst = xs.appendJWT(dst)
	}
	return c.appendCertHeaders(dst, x, xs)
}

// AppendResponse appends the fields the chain adds to the response sent to
// the client: Additional and Missing headers and CORS. resp and rbuf are the
// backend's response head (nil for a response the proxy made). Runs on the
// loop.
//
// x.Req is not read: the request's bytes are gone by then (Compile refuses
// response expressions that would need them).
func (c *Chain) AppendResponse(dst []byte, x *Ctx, xs *Exchange, resp *httpparse.Response, rbuf []byte) []byte {
	if c == nil {
		return dst
	}
	for i := range c.respAdd {
		a := &c.respAdd[i]
		if xs.off&a.bit != 0 {
			continue
		}
		if a.missingOnly && resp != nil {
			if _, ok := resp.Lookup(rbuf, a.lower); ok {
				continue
			}
		}
		dst = append(dst, a.name...)
		dst = append(dst, ": "...)
		dst = a.value.Append(dst, x)
		dst = append(dst, "\r\n"...)
	}
	if c.cors != nil && !xs.corsOff && xs.off&c.corsBit == 0 {
		dst = c.cors.appendHeaders(dst, x)
	}
	return dst
}

// Checks reports whether the chain must see the backend's response head
// (OtoroshiChallenge sent a state for this exchange).
func (c *Chain) Checks(xs *Exchange) bool { return c != nil && c.challenge != nil && xs.active }

// CheckResponse checks the backend's answer to the challenge. false means
// the answer is missing or wrong: answer RefusalNotSecured.
func (c *Chain) CheckResponse(resp *httpparse.Response, buf []byte, x *Ctx, xs *Exchange) bool {
	if c == nil || c.challenge == nil {
		return true
	}
	return c.challenge.check(resp, buf, x, xs)
}
