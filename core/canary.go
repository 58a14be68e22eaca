package core

import (
	"bytes"

	"github.com/torii-gateway/torii/core/plugin"
	"github.com/torii-gateway/torii/core/route"
)

// CanaryMode (route.Compiled.CanaryTraffic): a client belongs to the canary
// or not by its otoroshi-canary cookie, a random id made up on its first
// request and sent back for 30 days; the id hashes to a number in [0, 1)
// compared with the route's traffic share, so a client stays on one side
// for as long as it keeps the cookie and the share does not change. The
// request then goes to the canary's targets with the canary's root.
// Differences from Otoroshi: the cookie is not signed (Otoroshi signs it and
// ignores unsigned ones; here a client choosing its id only chooses its
// side of a traffic split), and Otoroshi's value "signature::id" is read as
// id.

// canaryCookie is Otoroshi's canary cookie name.
const canaryCookie = "otoroshi-canary"

// canaryIDLen is the length of a made-up canary id: 128 random bits in hex.
const canaryIDLen = 32

// canaryMaxID bounds an id read from a cookie.
const canaryMaxID = 64

// canaryFor decides whether cc's request (parsed from buf) goes to rt's
// canary, and makes up an id (set on the response) when it has none. On
// the loop; no allocation.
func (lp *loop) canaryFor(cc *clientConn, traffic float64, buf []byte) {
	var id []byte
	if v, ok := plugin.CookieValue(&lp.req, buf, canaryCookie); ok {
		if i := bytes.LastIndex(v, []byte("::")); i >= 0 {
			v = v[i+2:]
		}
		if len(v) > 0 && len(v) <= canaryMaxID && validCanaryID(v) {
			id = v
		}
	}
	if id == nil {
		lp.randomHex(cc.pol.canaryID[:canaryIDLen])
		cc.pol.ncanary = canaryIDLen
		id = cc.pol.canaryID[:canaryIDLen]
	}
	// FNV-1a, then the top 53 bits as a fraction.
	h := uint64(14695981039346656037)
	for _, b := range id {
		h ^= uint64(b)
		h *= 1099511628211
	}
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	cc.pol.canary = float64(h>>11)/(1<<53) < traffic
}

func validCanaryID(v []byte) bool {
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// appendCanaryCookie appends the Set-Cookie of a made-up canary id.
func appendCanaryCookie(dst []byte, cc *clientConn) []byte {
	if cc.pol.ncanary == 0 {
		return dst
	}
	dst = append(dst, "Set-Cookie: "+canaryCookie+"="...)
	dst = append(dst, cc.pol.canaryID[:cc.pol.ncanary]...)
	return append(dst, "; Path=/; Max-Age="+trackingMaxAge+"\r\n"...)
}

// pickFor picks among rt's canary targets or its own, as policy decided.
func pickFor(rt *route.Compiled, canary bool, in *route.PickInput) (*route.Upstream, int) {
	if canary {
		return rt.PickCanary(in)
	}
	return rt.Pick(in)
}
