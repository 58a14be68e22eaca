package plugin

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/torii-gateway/torii/httpparse"
)

// gzipConf is a compiled GzipResponseCompressor step (Otoroshi's NgGzipConfig).
// Whether a response is compressed is decided in two halves: the request's
// (Accept-Encoding, excluded_patterns, the step's include/exclude) in Access,
// kept in Exchange.gzip, and the response's (status, Content-Encoding,
// Content-Type, length) in Gzip when the head arrives.
type gzipConf struct {
	bit      uint64
	excluded []*regexp.Regexp // excluded_patterns, matched on the whole relative URI
	allowed  []mediaMask      // allowed_list; empty: every type not blocked
	blocked  []mediaMask
	level    int
	minLen   int64 // min_length (Torii): a known length under it is sent as is
}

// mediaMask is a type/subtype mask; "*" matches any value.
type mediaMask struct{ typ, sub string }

// GzipDefaults are Otoroshi's defaults for the config fields.
var gzipDefaultAllowed = []string{"text/*", "application/javascript", "application/json"}

func compileGzip(f *fields) *gzipConf {
	g := &gzipConf{bit: f.bit, level: 5}
	for i, p := range f.strs("excluded_patterns") {
		re, err := regexp.Compile("^(?:" + p + ")$")
		if err != nil {
			f.fail(fmt.Sprintf("excluded_patterns[%d]", i), "%q is not a regular expression: %v", p, err)
			continue
		}
		g.excluded = append(g.excluded, re)
	}
	allowed := gzipDefaultAllowed
	if _, ok := f.cfg["allowed_list"]; ok {
		allowed = f.strs("allowed_list")
	}
	g.allowed = compileMasks(f, "allowed_list", allowed)
	g.blocked = compileMasks(f, "blocked_list", f.strs("blocked_list"))
	if f.get("compression_level", &g.level) && (g.level < 1 || g.level > 9) {
		f.fail("compression_level", "%d is not a gzip level (1 to 9)", g.level)
	}
	bufSize, threshold := 8192, 102400
	if f.get("buffer_size", &bufSize) && bufSize < 1 {
		f.fail("buffer_size", "%d is not a positive size", bufSize)
	}
	if f.get("chunked_threshold", &threshold) && threshold < 0 {
		f.fail("chunked_threshold", "%d is negative", threshold)
	}
	if f.get("min_length", &g.minLen) && g.minLen < 0 {
		f.fail("min_length", "%d is negative", g.minLen)
	}
	return g
}

func compileMasks(f *fields, field string, list []string) []mediaMask {
	var out []mediaMask
	for i, s := range list {
		s = strings.TrimSpace(s)
		if s == "*" {
			out = append(out, mediaMask{"*", "*"})
			continue
		}
		typ, sub, ok := strings.Cut(s, "/")
		sub, _, _ = strings.Cut(sub, ";")
		typ, sub = strings.ToLower(strings.TrimSpace(typ)), strings.ToLower(strings.TrimSpace(sub))
		if !ok || !validMaskPart(typ) || !validMaskPart(sub) {
			f.fail(fmt.Sprintf("%s[%d]", field, i), "%q is not a media type mask (type/subtype, * for any)", list[i])
			continue
		}
		out = append(out, mediaMask{typ, sub})
	}
	return out
}

func validMaskPart(s string) bool {
	if s == "*" {
		return true
	}
	return s != "" && validFieldName(s)
}

// gzipRequest decides the request half for this exchange (on the loop, 0 allocations).
func (c *Chain) gzipRequest(x *Ctx, xs *Exchange) {
	g := c.gzip
	xs.gzip = false
	if g == nil || xs.off&g.bit != 0 || x.Req.MethodKind == httpparse.MethodHead || x.Req.Version == httpparse.HTTP10 {
		return
	}
	if !AcceptsGzip(x.Req.Headers, x.Buf) {
		return
	}
	if len(g.excluded) > 0 {
		uri := x.Req.Target.Bytes(x.Buf)
		for _, re := range g.excluded {
			if re.Match(uri) {
				return
			}
		}
	}
	xs.gzip = true
}

// Gzip reports whether the response in resp (parsed from buf) is compressed
// for this exchange, and at which level. bodyless is true for a response
// without a body (HEAD, 204, 304, 1xx): never compressed. On the loop; no
// allocation.
func (c *Chain) Gzip(xs *Exchange, resp *httpparse.Response, buf []byte, bodyless bool) (int, bool) {
	if c == nil || !xs.gzip || bodyless {
		return 0, false
	}
	g := c.gzip
	if resp.Status < 200 || resp.Status == 204 || resp.Status == 304 || resp.Status == 206 {
		return 0, false
	}
	if resp.ContentLength >= 0 && (resp.ContentLength == 0 || resp.ContentLength < g.minLen) {
		return 0, false
	}
	if v, ok := resp.Lookup(buf, "content-encoding"); ok {
		if ce := trimOWS(v.Bytes(buf)); len(ce) > 0 && !httpparse.EqualFold(ce, "identity") {
			return 0, false // already encoded
		}
	}
	var typ, sub []byte
	ct, hasCT := resp.Lookup(buf, "content-type")
	if hasCT {
		typ, sub, hasCT = splitMedia(ct.Bytes(buf))
	}
	if len(g.allowed) > 0 {
		if !hasCT || !matchAny(g.allowed, typ, sub) {
			return 0, false
		}
	} else if hasCT && matchAny(g.blocked, typ, sub) {
		return 0, false
	}
	return g.level, true
}

func matchAny(masks []mediaMask, typ, sub []byte) bool {
	for i := range masks {
		m := &masks[i]
		if (m.typ == "*" || httpparse.EqualFold(typ, m.typ)) && (m.sub == "*" || httpparse.EqualFold(sub, m.sub)) {
			return true
		}
	}
	return false
}

// splitMedia splits "type/subtype; params" into its lower-case-insensitive parts.
func splitMedia(v []byte) ([]byte, []byte, bool) {
	for i, b := range v {
		if b == ';' {
			v = v[:i]
			break
		}
	}
	v = trimOWS(v)
	for i, b := range v {
		if b == '/' {
			t, s := trimOWS(v[:i]), trimOWS(v[i+1:])
			return t, s, len(t) > 0 && len(s) > 0
		}
	}
	return nil, nil, false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// AcceptsGzip reports whether the Accept-Encoding fields among hdrs (parsed
// from buf) accept gzip (RFC 9110 §12.5.3): "gzip" or "x-gzip" with a non-zero
// q-value, or else "*" with a non-zero q-value when gzip is not listed. No
// field, or only "identity", does not accept it. No allocation.
func AcceptsGzip(hdrs []httpparse.Header, buf []byte) bool {
	gzipQ, starQ := -1, -1 // q-values ×1000; -1 when not listed
	for i := range hdrs {
		h := &hdrs[i]
		if !httpparse.EqualFold(h.Name.Bytes(buf), "accept-encoding") {
			continue
		}
		v := h.Value.Bytes(buf)
		for len(v) > 0 {
			var item []byte
			item, v = cutByte(v, ',')
			coding, params := cutByte(item, ';')
			coding = trimOWS(coding)
			q := qValue(params)
			switch {
			case httpparse.EqualFold(coding, "gzip"), httpparse.EqualFold(coding, "x-gzip"):
				gzipQ = max(gzipQ, q)
			case len(coding) == 1 && coding[0] == '*':
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

func cutByte(b []byte, sep byte) ([]byte, []byte) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// qValue returns the q parameter in params (";q=0.5;...") ×1000; 1000 when
// absent, 0 when malformed (a malformed weight does not accept).
func qValue(params []byte) int {
	for len(params) > 0 {
		var p []byte
		p, params = cutByte(params, ';')
		p = trimOWS(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		p = p[2:]
		if len(p) == 0 || (p[0] != '0' && p[0] != '1') {
			return 0
		}
		q := int(p[0]-'0') * 1000
		if len(p) == 1 {
			return q
		}
		if p[1] != '.' || len(p) > 5 {
			return 0
		}
		scale := 100
		for _, d := range p[2:] {
			if d < '0' || d > '9' {
				return 0
			}
			q += int(d-'0') * scale
			scale /= 10
		}
		return min(q, 1000)
	}
	return 1000
}
