package route

import (
	"bytes"

	"github.com/torii-gateway/torii/httpparse"
)

// maxHostLen bounds the Host value Match lower-cases on the stack: a DNS name has at most
// 253 characters, so a longer Host cannot name any exact or wildcard domain.
const maxHostLen = 255

// Match returns the route for the request, or nil when none takes it (the engine answers
// 404). Hosts are compared case-insensitively without port or trailing dot: exact hosts
// first, then wildcard hosts from the longest suffix to the shortest, then the domain "*".
// Within a host the longest matching path prefix whose headers, query and methods matchers
// also hold wins; when no path of a host matches, the next, less specific host is tried.
// req and buf are only read during the call. Safe from any goroutine; 0 allocs.
func (t *Table) Match(req *httpparse.Request, buf []byte) *Compiled {
	if t == nil || req == nil {
		return nil
	}
	host, upper := splitHost(req.Host.Bytes(buf))
	path := req.Path.Bytes(buf)
	if len(path) == 0 {
		path = slash
	}
	if len(host) <= maxHostLen {
		var c *Compiled
		switch {
		case !upper:
			c = t.matchHost(host, path, req, buf)
		case len(host) <= shortHostLen:
			var arr [shortHostLen]byte // most hosts: less to zero than maxHostLen
			c = t.matchHost(httpparse.Lower(arr[:], host), path, req, buf)
		default:
			var arr [maxHostLen]byte
			c = t.matchHost(httpparse.Lower(arr[:], host), path, req, buf)
		}
		if c != nil {
			return c
		}
	}
	return t.any.find(path, req, buf)
}

var slash = []byte("/")

// matchHost looks h (lower-case, no port) up among exact hosts, then wildcard suffixes
// from the longest to the shortest.
func (t *Table) matchHost(h, path []byte, req *httpparse.Request, buf []byte) *Compiled {
	if t.exact.n != 0 {
		if c := t.exact.get(h).find(path, req, buf); c != nil {
			return c
		}
	}
	if t.wild.n == 0 && len(t.globs) == 0 {
		return nil
	}
	// Suffix wildcards and globs interleave by pattern length, longest first; at equal
	// length the suffix wildcard goes first.
	g := 0
	for i := 1; i < len(h); i++ {
		if h[i] != '.' {
			continue
		}
		n := len(h) - i // the pattern "*" + h[i:] is n+1 long
		for ; g < len(t.globs) && len(t.globs[g].pattern) > n+1; g++ {
			if c := t.globs[g].find(h, path, req, buf); c != nil {
				return c
			}
		}
		if n >= 256 || t.wildLens[n>>6]&(1<<(n&63)) == 0 {
			continue
		}
		if c := t.wild.get(h[i:]).find(path, req, buf); c != nil {
			return c
		}
	}
	for ; g < len(t.globs); g++ {
		if c := t.globs[g].find(h, path, req, buf); c != nil {
			return c
		}
	}
	return nil
}

// find matches h against the pattern, then path.
func (g *globHost) find(h, path []byte, req *httpparse.Request, buf []byte) *Compiled {
	if len(h) < len(g.tail) || string(h[len(h)-len(g.tail):]) != g.tail || !globMatch(g.pattern, h) {
		return nil
	}
	return g.node.paths.find(path, req, buf)
}

// globMatch reports whether s matches pattern p, in which '*' stands for any run of
// bytes (dots included, as in Otoroshi). It backtracks only to the last '*', so it runs
// in O(len(p)·len(s)) at worst and does not allocate.
func globMatch(p string, s []byte) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			starP, starS = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case starP >= 0:
			starS++
			pi, si = starP+1, starS
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// shortHostLen is the stack buffer size used to lower-case most Host values.
const shortHostLen = 64

// hostClass flags the bytes splitHost looks for in one pass over a Host value:
//
//	Host = uri-host [ ":" port ]                    (RFC 9110 §7.2)
//	uri-host = IP-literal / IPv4address / reg-name  (RFC 3986 §3.2.2; IP-literal is "[...]")
//
// so the first ':' outside brackets starts the port; reg-names compare case-insensitively.
var hostClass = func() (t [256]uint8) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = classUpper
	}
	t[':'] = classColon
	return t
}()

const (
	classUpper = 1
	classColon = 2
)

// splitHost strips the port and one trailing dot from a Host value, and reports whether
// what is left has upper-case ASCII letters.
func splitHost(h []byte) (host []byte, upper bool) {
	if len(h) > 0 && h[0] == '[' {
		for i, c := range h {
			if c == ']' {
				h = h[:i+1]
				break
			}
		}
		return h, hasUpper(h)
	}
	for i, c := range h {
		switch hostClass[c] {
		case 0:
			continue
		case classUpper:
			upper = true
			continue
		}
		h = h[:i]
		break
	}
	if len(h) > 1 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	return h, upper
}

func hasUpper(b []byte) bool {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

func (n *hostNode) find(path []byte, req *httpparse.Request, buf []byte) *Compiled {
	if n == nil {
		return nil
	}
	return n.paths.find(path, req, buf)
}

// pathSet indexes the routes of one host by path. Prefixes are raw byte prefixes, as in
// Otoroshi: "/api" takes "/api", "/api/x" and also "/apikeys".
type pathSet struct {
	prefixes []prefixGroup // by prefix length, longest first
	more     *pathMore     // nil unless the host has exact paths or many prefixes
}

// pathMore holds the path indexes few hosts need.
type pathMore struct {
	exact map[string]*prefixGroup // frontend.exact routes, by whole path
	byLen []lenBucket             // prefixes by length, longest first, when there are many
}

// prefixGroup is the routes sharing one path (prefix or exact path).
type prefixGroup struct {
	prefix string
	cands  []*Compiled // routes with matchers, most matchers first (at build time: all)
	plain  *Compiled   // the route without matchers, if any: taken when no cand matches
}

// lenBucket holds the prefixes of one length.
type lenBucket struct {
	n int
	m map[string]*prefixGroup
}

// linearPrefixes is the prefix count up to which a linear scan beats the per-length maps.
const linearPrefixes = 8

func (s *pathSet) find(path []byte, req *httpparse.Request, buf []byte) *Compiled {
	if s.more != nil {
		return s.more.find(path, req, buf, s.prefixes)
	}
	return findPrefix(s.prefixes, path, req, buf)
}

// findPrefix scans prefixes (longest first) for the first that takes path.
func findPrefix(prefixes []prefixGroup, path []byte, req *httpparse.Request, buf []byte) *Compiled {
	for i := range prefixes {
		g := &prefixes[i]
		if len(g.prefix) <= len(path) && string(path[:len(g.prefix)]) == g.prefix {
			if c := g.find(req, buf); c != nil {
				return c
			}
		}
	}
	return nil
}

func (s *pathMore) find(path []byte, req *httpparse.Request, buf []byte, prefixes []prefixGroup) *Compiled {
	if s.exact != nil {
		if g := s.exact[string(path)]; g != nil {
			if c := g.find(req, buf); c != nil {
				return c
			}
		}
	}
	if s.byLen == nil {
		return findPrefix(prefixes, path, req, buf)
	}
	for i := range s.byLen {
		b := &s.byLen[i]
		if b.n > len(path) {
			continue
		}
		if g := b.m[string(path[:b.n])]; g != nil {
			if c := g.find(req, buf); c != nil {
				return c
			}
		}
	}
	return nil
}

func (g *prefixGroup) find(req *httpparse.Request, buf []byte) *Compiled {
	for _, c := range g.cands {
		if c.match.ok(req, buf) {
			return c
		}
	}
	return g.plain
}

// matchers are the frontend filters besides domain and path.
type matchers struct {
	headers []nameValue // lower-case name, exact value
	query   []nameValue // raw name and value as sent (no percent-decoding)
	methods uint16      // bit per httpparse.Method (MethodOther excluded)
	other   []string    // methods outside the enum, upper-case as sent
	any     bool        // some matcher is set
}

type nameValue struct{ name, value string }

func (m *matchers) ok(req *httpparse.Request, buf []byte) bool {
	if !m.any {
		return true
	}
	if m.methods != 0 || m.other != nil {
		if !m.methodOK(req, buf) {
			return false
		}
	}
	for _, h := range m.headers {
		if v, found := headerValue(req, buf, h.name); !found || string(v) != h.value {
			return false
		}
	}
	if len(m.query) != 0 {
		q := req.Query.Bytes(buf)
		for _, kv := range m.query {
			if v, found := queryValue(q, kv.name); !found || string(v) != kv.value {
				return false
			}
		}
	}
	return true
}

func (m *matchers) methodOK(req *httpparse.Request, buf []byte) bool {
	if req.MethodKind != httpparse.MethodOther {
		return m.methods&(1<<req.MethodKind) != 0
	}
	method := req.Method.Bytes(buf)
	for _, o := range m.other {
		if string(method) == o {
			return true
		}
	}
	return false
}

// headerValue returns the value of the first field named name (lower-case).
func headerValue(req *httpparse.Request, buf []byte, name string) ([]byte, bool) {
	for i := range req.Headers {
		h := &req.Headers[i]
		if httpparse.EqualFold(h.Name.Bytes(buf), name) {
			return h.Value.Bytes(buf), true
		}
	}
	return nil, false
}

// cookieValue returns the value of the first cookie named name in the Cookie fields.
func cookieValue(req *httpparse.Request, buf []byte, name string) ([]byte, bool) {
	for i := range req.Headers {
		h := &req.Headers[i]
		if !httpparse.EqualFold(h.Name.Bytes(buf), "cookie") {
			continue
		}
		v := h.Value.Bytes(buf)
		for len(v) > 0 {
			var pair []byte
			pair, v = cut(v, ';')
			pair = trimSpace(pair)
			k, val := cut(pair, '=')
			if string(k) == name {
				return val, true
			}
		}
	}
	return nil, false
}

// queryValue returns the raw value of the first parameter named name in a query string.
func queryValue(q []byte, name string) ([]byte, bool) {
	for len(q) > 0 {
		var pair []byte
		pair, q = cut(q, '&')
		k, v := cut(pair, '=')
		if string(k) == name {
			return v, true
		}
	}
	return nil, false
}

// cut splits b around the first sep; after is empty when sep is absent.
func cut(b []byte, sep byte) (before, after []byte) {
	if i := bytes.IndexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
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
