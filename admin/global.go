package admin

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/torii-gateway/torii/core"
)

// GlobalSettings is the typed part of the global config that the proxy can enforce, compiled with
// each snapshot. Immutable once published.
type GlobalSettings struct {
	MaintenanceMode bool
	// ThrottlingQuota is calls per second for the whole gateway, PerIPThrottlingQuota per client
	// IP; quota.Unlimited (10000000) means no limit.
	ThrottlingQuota, PerIPThrottlingQuota int64
	// Allowed, when not empty, are the only client addresses served; Blocked are refused.
	Allowed, Blocked        []netip.Prefix
	TrustXForwarded         bool
	LimitConcurrentRequests bool
	MaxConcurrentRequests   int64

	// UnderscoresInHeaders forwards request fields whose names hold "_" (dropped by default; see
	// core.Global.UnderscoresInHeaders).
	UnderscoresInHeaders bool

	// HTTP2 is Torii's http2Settings (nil when absent: the flags apply).
	HTTP2 *core.GlobalHTTP2
}

// compileGlobal types the global config document (already validated by checkGlobal, so errors
// here are bugs in that check, reported rather than panicking).
func compileGlobal(doc map[string]any) (*GlobalSettings, error) {
	g := &GlobalSettings{}
	boolean := func(k string) bool { b, _ := doc[k].(bool); return b }
	integer := func(k string, def int64) int64 {
		if n, ok := doc[k].(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return i
			}
		}
		return def
	}
	g.MaintenanceMode = boolean("maintenanceMode")
	g.TrustXForwarded = boolean("trustXForwarded")
	g.UnderscoresInHeaders = boolean("underscoresInHeaders")
	g.LimitConcurrentRequests = boolean("limitConcurrentRequests")
	g.ThrottlingQuota = integer("throttlingQuota", 10000000)
	g.PerIPThrottlingQuota = integer("perIpThrottlingQuota", 10000000)
	g.MaxConcurrentRequests = integer("maxConcurrentRequests", 1000)
	if hs, ok := doc["http2Settings"].(map[string]any); ok {
		g.HTTP2 = compileHTTP2Settings(hs)
	}
	ipf, _ := doc["ipFiltering"].(map[string]any)
	for list, dst := range map[string]*[]netip.Prefix{"whitelist": &g.Allowed, "blacklist": &g.Blocked} {
		items, _ := ipf[list].([]any)
		for i, v := range items {
			s, _ := v.(string)
			p, err := parsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("ipFiltering.%s[%d]: %w", list, i, err)
			}
			*dst = append(*dst, p)
		}
	}
	return g, nil
}

// core converts the settings the engine enforces on every request (nil g: the defaults).
func (g *GlobalSettings) core() *core.Global {
	if g == nil {
		return nil
	}
	return &core.Global{
		MaintenanceMode: g.MaintenanceMode,
		IPAllow:         g.Allowed,
		IPBlock:         g.Blocked,
		TrustXForwarded: g.TrustXForwarded,

		UnderscoresInHeaders: g.UnderscoresInHeaders,

		ThrottlingQuota:      g.ThrottlingQuota,
		PerIPThrottlingQuota: g.PerIPThrottlingQuota,

		LimitConcurrentRequests: g.LimitConcurrentRequests,
		MaxConcurrentRequests:   g.MaxConcurrentRequests,

		HTTP2: g.HTTP2,
	}
}

// http2Settings is Torii's object of the global config for HTTP/2 to clients (served by the
// engine's own HTTP/2 server, --h2-server loops): h2c turns HTTP/2 with prior knowledge on the
// plaintext listener on or off, the others are the limits (timeouts in milliseconds). An absent
// field keeps the flag's value; changes apply to connections opened after them.
var http2Limits = []struct {
	key    string
	lo, hi int64
}{
	{"maxConcurrentStreams", 1, 1 << 16},
	{"maxHeaderListSize", 1024, 1 << 20},
	{"streamWindow", 1024, 1<<31 - 1},
	{"connWindow", 1024, 1<<31 - 1},
	{"idleTimeout", 1, 86_400_000},
	{"pingAfter", 1, 86_400_000},
	{"pingTimeout", 1, 86_400_000},
}

// checkHTTP2Settings checks http2Settings.
func checkHTTP2Settings(c *checker, doc map[string]any) {
	hs := c.object(doc, "http2Settings", "", false)
	if hs == nil {
		return
	}
	c.boolean(hs, "h2c", "http2Settings")
	for _, l := range http2Limits {
		c.integer(hs, l.key, "http2Settings", l.lo, l.hi)
	}
	for k := range hs {
		known := k == "h2c"
		for _, l := range http2Limits {
			known = known || k == l.key
		}
		if !known {
			c.add("http2Settings."+k, "is not a setting (h2c, maxConcurrentStreams, maxHeaderListSize, streamWindow, connWindow, idleTimeout, pingAfter, pingTimeout)")
		}
	}
}

// compileHTTP2Settings types a checked http2Settings object.
func compileHTTP2Settings(hs map[string]any) *core.GlobalHTTP2 {
	g := &core.GlobalHTTP2{}
	if b, ok := hs["h2c"].(bool); ok {
		g.H2C = -1
		if b {
			g.H2C = 1
		}
	}
	v := func(k string) int64 {
		if n, ok := hs[k].(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return i
			}
		}
		return 0
	}
	g.MaxConcurrentStreams, g.MaxHeaderListSize = uint32(v("maxConcurrentStreams")), uint32(v("maxHeaderListSize"))
	g.StreamWindow, g.ConnWindow = int32(v("streamWindow")), int32(v("connWindow"))
	g.IdleTimeout = time.Duration(v("idleTimeout")) * time.Millisecond
	g.PingAfter = time.Duration(v("pingAfter")) * time.Millisecond
	g.PingTimeout = time.Duration(v("pingTimeout")) * time.Millisecond
	return g
}

// parsePrefix accepts a CIDR prefix or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("cannot parse %q as an IP address or prefix: %w", s, err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Global returns the admin form of the global settings published last (nil before the first):
// the engine gets them compiled, as core.Snapshot.Global. Safe from any goroutine.
func (s *Server) Global() *GlobalSettings {
	if c := s.published.Load(); c != nil {
		return c.global
	}
	return nil
}
