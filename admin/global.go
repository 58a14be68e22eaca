package admin

import (
	"encoding/json"
	"fmt"
	"net/netip"

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
	}
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
