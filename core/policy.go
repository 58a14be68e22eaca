package core

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/plugin"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
)

// loopPolicy is the policy state one event loop owns.
type loopPolicy struct {
	// scratch is the loop's API-key check scratch (never shared).
	scratch *apikey.Scratch
	// rnd is a splitmix64 state for tracking ids, seeded from crypto/rand.
	rnd uint64
	// login and page hold the Location and the response of a login
	// redirect (privateapp.go).
	login, page []byte
	// answer is a redirection or CORS preflight the route's plugins
	// answered (plugins.go).
	answer []byte
}

// exchangePolicy is what the policy steps decided for a client's current
// exchange, used when the request head and the response head are written.
// Nothing in it refers to request bytes.
type exchangePolicy struct {
	// key is the API key the request authenticated with, or nil.
	key *apikey.Key
	// user is the private-app session the request came with (AuthModule),
	// or nil. Immutable; it may outlive its session.
	user *privateapp.User
	// chain is the route's plugins (plugins.go), nil when it has none; px
	// is their state for this exchange; clientIP is the address the IP
	// lists judge.
	chain    *plugin.Chain
	px       plugin.Exchange
	clientIP netip.Addr
	// answerStatus is the status of a plugin's own answer (a redirection,
	// a preflight), for the event.
	answerStatus int
	// counted is set when the call was counted against key's quotas; rem
	// is then what remains, sent in the Otoroshi-*-Calls-Remaining headers.
	counted bool
	rem     quota.Remaining
	// retryAfter is the Retry-After of a 429, in seconds.
	retryAfter int
	// drop holds the indexes in req.Headers of the credential fields, which
	// are not forwarded.
	drop  [apikey.MaxDrop]int
	ndrop int
	// tracking is the otoroshi-tracking id made up for a Sticky route whose
	// request had none; ntracking is its length (0: none).
	tracking  [trackingLen]byte
	ntracking int
	// attempts is the number of targets tried for this request.
	attempts int
	// overrideHost sends the target's host:port as Host (the route's
	// OverrideHost plugin, compiled at publish: routePolicy).
	overrideHost bool
	// xForwarded sends the X-Forwarded-* fields (head.go).
	xForwarded bool
	// canary sends the request to the route's canary (canary.go);
	// canaryID[:ncanary] is a made-up canary id to set on the response.
	canary   bool
	canaryID [canaryIDLen]byte
	ncanary  int
	// keepUnderscores forwards request fields whose names hold "_"
	// (Global.UnderscoresInHeaders).
	keepUnderscores bool
}

// trackingLen is the length of a made-up otoroshi-tracking id: 128 random
// bits in hex.
const trackingLen = 32

// trackingMaxAge is the Max-Age of the otoroshi-tracking cookie (30 days).
const trackingMaxAge = "2592000"

func (p *exchangePolicy) reset() {
	p.key = nil
	p.user = nil
	p.chain = nil
	p.px.Reset()
	p.counted = false
	p.retryAfter = 0
	p.ndrop = 0
	p.ntracking = 0
	p.attempts = 1
	p.overrideHost = false
	p.xForwarded = false
	p.canary = false
	p.ncanary = 0
}

// dropped reports whether request header i carries credentials.
func (p *exchangePolicy) dropped(i int) bool {
	for _, d := range p.drop[:p.ndrop] {
		if d == i {
			return true
		}
	}
	return false
}

// policy runs the policy steps of the request lp.req parsed from buf, which
// snap's table matched to rt, before any byte goes to a backend: global
// maintenance mode, the global IP lists, then the route's API-key check
// (extraction, validation, quotas). It records in cc.pol what the head
// writers need and returns the error to answer when the request is refused.
// Runs on the loop; buf is only read during the call; no allocation on the
// common paths (bearer, client id, client id and secret headers).
func (lp *loop) policy(cc *clientConn, snap *Snapshot, rt *route.Compiled, buf []byte) (errKind, bool) {
	cc.pol.reset()
	cc.pol.keepUnderscores = snap.Global != nil && snap.Global.UnderscoresInHeaders
	cc.pol.clientIP = cc.remote
	if snap.Global != nil && snap.Global.TrustXForwarded {
		cc.pol.clientIP = clientAddr(cc, snap.Global, buf)
	}
	if k, ok := lp.enterFlight(cc, snap.Global); !ok {
		return k, false
	}
	if g := snap.Global; g != nil {
		if g.MaintenanceMode {
			return errMaintenance, false
		}
		if len(g.IPAllow) > 0 || len(g.IPBlock) > 0 {
			if !g.ipAllowed(clientAddr(cc, g, buf)) {
				return errIPNotAllowed, false
			}
		}
		if k, ok := lp.throttle(cc, g, buf); !ok {
			return k, false
		}
	}
	cc.pol.xForwarded = !lp.s.cfg.XForwardedByPlugin
	if rp := snap.policyOf(rt); rp != nil {
		cc.pol.overrideHost = rp.overrideHost
		cc.pol.xForwarded = cc.pol.xForwarded || rp.xForwarded
		if rp.broken {
			return errMisconfigured, false
		}
		if rp.chain != nil {
			cc.pol.chain = rp.chain
			if k, ok := lp.pluginAccess(cc, snap, rp.chain, rt, buf); !ok {
				return k, false
			}
		}
		if rp.key != nil {
			if k, ok := lp.checkKey(cc, snap, rp.key, rt, buf); !ok {
				// pass_with_apikey: a request without key material may
				// still come in with a session.
				if k != errNoAPIKey || rp.priv == nil || !rp.priv.passWithKey {
					return k, false
				}
			}
		}
		if rp.priv != nil {
			if k, ok := lp.checkSession(cc, rp.priv, rt, buf); !ok {
				return k, false
			}
		}
	}
	if tr := rt.CanaryTraffic(); tr > 0 {
		lp.canaryFor(cc, tr, buf)
	}
	if rt.NeedsTracking(&lp.req, buf) {
		lp.newTracking(cc)
	}
	return 0, true
}

// checkKey runs the API-key check of p for cc's request.
func (lp *loop) checkKey(cc *clientConn, snap *Snapshot, p *apikey.Policy, rt *route.Compiled, buf []byte) (errKind, bool) {
	if lp.pol.scratch == nil {
		lp.pol.scratch = apikey.NewScratch()
	}
	var groups []string
	if rt.Route != nil {
		groups = rt.Route.Groups
	}
	res, rej := p.Check(snap.Keys, lp.s.cfg.Quotas, lp.pol.scratch, &lp.req, buf, rt.ID, groups, time.Now())
	cc.pol.counted, cc.pol.rem = res.Counted, res.Rem
	if rej != nil {
		// A key identified but refused (out of quota, read-only, not
		// authorized on the route, expired): its event names it.
		cc.pol.key = res.Key
		if rej == apikey.ErrLeasePending {
			q, id := lp.s.cfg.Quotas, res.Key.ClientID
			return lp.pending(cc, 1, func(wake func()) { q.Wait(id, wake) }), false
		}
		if rej == apikey.ErrTooManyRequests {
			cc.pol.retryAfter = max(res.RetryAfter, 1)
		}
		return rejectionKind(rej), false
	}
	cc.pol.key = res.Key
	cc.pol.ndrop = copy(cc.pol.drop[:], res.Dropped())
	return 0, true
}

// rejectionKind maps an apikey rejection to its error page.
func rejectionKind(r *apikey.Rejection) errKind {
	switch r {
	case apikey.ErrNoKey:
		return errNoAPIKey
	case apikey.ErrInvalidTuple:
		return errInvalidTuple
	case apikey.ErrBadKey:
		return errBadAPIKey
	case apikey.ErrClientIDOnly, apikey.ErrBadJWT:
		return errBadAPIKey400
	case apikey.ErrInvalidKey:
		return errInvalidAPIKey
	case apikey.ErrReadOnly:
		return errReadOnlyKey
	case apikey.ErrTooManyRequests:
		return errTooManyRequests
	}
	return errInvalidAPIKey
}

// clientAddr is the address the IP lists judge: the peer, or with
// TrustXForwarded the first X-Forwarded-For address when it parses.
func clientAddr(cc *clientConn, g *Global, buf []byte) netip.Addr {
	if !g.TrustXForwarded {
		return cc.remote
	}
	v, ok := cc.lp.req.Lookup(buf, "x-forwarded-for")
	if !ok {
		return cc.remote
	}
	b := v.Bytes(buf)
	if i := bytes.IndexByte(b, ','); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > maxAddrLen {
		return cc.remote
	}
	var tmp [maxAddrLen]byte
	n := copy(tmp[:], b)
	a, err := netip.ParseAddr(string(tmp[:n]))
	if err != nil {
		return cc.remote
	}
	return a.Unmap()
}

// maxAddrLen bounds an X-Forwarded-For address handed to the parser: the
// longest textual IPv6 address with a zone fits.
const maxAddrLen = 64

// ipAllowed applies the allow and block lists to a.
func (g *Global) ipAllowed(a netip.Addr) bool {
	if !a.IsValid() {
		return len(g.IPAllow) == 0
	}
	for _, p := range g.IPBlock {
		if p.Contains(a) {
			return false
		}
	}
	if len(g.IPAllow) == 0 {
		return true
	}
	for _, p := range g.IPAllow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// randomHex fills dst (a multiple of 16 bytes long) with lowercase hex digits
// from the loop's splitmix generator, seeded from crypto/rand on first use.
// Loop only: the generator state is the loop's own.
func (lp *loop) randomHex(dst []byte) {
	if lp.pol.rnd == 0 {
		var seed [8]byte
		_, _ = rand.Read(seed[:])
		lp.pol.rnd = binary.LittleEndian.Uint64(seed[:]) | 1
	}
	const hex = "0123456789abcdef"
	for i := 0; i+16 <= len(dst); i += 16 {
		v := splitmix(&lp.pol.rnd)
		for j := range 16 {
			dst[i+j] = hex[v&15]
			v >>= 4
		}
	}
}

// newTracking makes up an otoroshi-tracking id for cc's request and hands
// it to Pick; the response sets it as a cookie.
func (lp *loop) newTracking(cc *clientConn) {
	lp.randomHex(cc.pol.tracking[:trackingLen])
	cc.pol.ntracking = trackingLen
	cc.pick.Tracking = cc.pol.tracking[:trackingLen]
}

// splitmix advances a splitmix64 generator.
func splitmix(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
