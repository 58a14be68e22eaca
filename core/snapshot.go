package core

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/plugin"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/pvec"
)

// Snapshot is everything the hot path reads about configuration, published
// as one immutable value behind one atomic pointer. A request loads it once
// and uses that value to its end. Do not modify a Snapshot after Publish.
//
// Build it with BuildSnapshot, off the event loops: it compiles each route's
// API-key policy once, indexed by route, so that the hot path never looks a
// route up by name. A Snapshot literal (Routes and Version only, as tests
// and quick mode write it) is accepted too: Publish then compiles the
// policies itself, into a private copy.
type Snapshot struct {
	// Routes is the compiled route table; nil answers every request 404.
	Routes *route.Table
	// Keys are the API keys Check validates against; nil means none, so a
	// route that requires a key refuses every request. Compile them with
	// apikey.CompileWith(keys, apikey.CompileOptions{Counters: q}) where q is
	// the Server's Config.Quotas, so that counting skips a map lookup.
	Keys *apikey.Set
	// Global is the gateway-wide configuration; nil means the defaults (no
	// maintenance, no IP filtering).
	Global *Global
	// Version identifies the snapshot in logs and events.
	Version uint64
	// JWT is the jwtVerifiers the JwtVerification and JwtSigner plugins
	// name (plugin.NewVerifierSet); nil means none: those plugins then
	// answer 500 error.missing.globaljwtverifier.id.
	JWT *plugin.VerifierSet

	// policies holds the per-route policy steps, by route.Compiled.Index: a
	// persistent vector, so that a table made by route.Table.With costs the
	// changed routes only (BuildSnapshotFrom). broken counts the routes
	// whose policy did not compile.
	policies pvec.Vec[routePolicy]
	broken   int
	built    bool

	obs *observeTable // filled by Publish: route metrics by route index
}

// Global is the gateway-wide part of the configuration the engine enforces
// on every request, before the route's own steps: Otoroshi's global config.
// The admin API builds it from its global config document:
//
//	&core.Global{
//		MaintenanceMode: g.MaintenanceMode,
//		IPAllow:         g.Allowed, // ipFiltering.whitelist
//		IPBlock:         g.Blocked, // ipFiltering.blacklist
//		TrustXForwarded: g.TrustXForwarded,
//		ThrottlingQuota: g.ThrottlingQuota,
//		PerIPThrottlingQuota: g.PerIPThrottlingQuota,
//		LimitConcurrentRequests: g.LimitConcurrentRequests,
//		MaxConcurrentRequests:   g.MaxConcurrentRequests,
//	}
//
// It is immutable once published.
type Global struct {
	// MaintenanceMode answers every routed request 503
	// errors.service.in.maintenance.
	MaintenanceMode bool
	// IPAllow, when not empty, lists the only client addresses served;
	// IPBlock lists refused ones. Both answer 403
	// errors.ip.address.not.allowed. The block list wins.
	IPAllow, IPBlock []netip.Prefix
	// TrustXForwarded makes the IP lists judge the first address of the
	// request's X-Forwarded-For (when present and valid) instead of the peer
	// address. Only set it behind a proxy that overwrites that header:
	// otherwise any client can claim any address.
	TrustXForwarded bool
	// UnderscoresInHeaders forwards request header (and trailer) fields
	// whose names hold "_". They are dropped by default, as nginx does
	// (underscores_in_headers off): CGI-style backends (PHP, Python WSGI,
	// Ruby Rack) read X-Api_Key and X-Api-Key as the same variable
	// HTTP_X_API_KEY, so a client could smuggle a credential or an
	// X-Forwarded-* value past the proxy's own checks and rewrites.
	UnderscoresInHeaders bool
	// ThrottlingQuota is the number of calls per second the whole gateway
	// serves (Otoroshi's throttlingQuota), counted exactly across loops as
	// ThrottlingQuota × 10 calls per 10-second window; past it requests are
	// answered 429 errors.too.much.requests with Retry-After. 0, or
	// quota.Unlimited and more, means no limit. The count lives in the
	// Server, so a reload does not reset it.
	ThrottlingQuota int64
	// PerIPThrottlingQuota is the same per client address (the address the
	// IP lists judge), counted exactly per 10-second window; memory is
	// bounded by the addresses seen in one window.
	PerIPThrottlingQuota int64
	// LimitConcurrentRequests caps the requests in flight across all loops
	// at MaxConcurrentRequests: a routed request arriving while that many
	// are in flight is answered at once 429
	// errors.cant.process.more.request (see inflight.go). The count lives in
	// the Server, so a reload does not reset it.
	LimitConcurrentRequests bool
	MaxConcurrentRequests   int64
	// HTTP2, when set, overrides the engine's HTTP/2 settings (Config.HTTP2,
	// from the flags) gateway-wide: h2c on the listener and the limits. It
	// applies to connections accepted (h2c) or becoming HTTP/2 (limits) after
	// the Publish; it needs Config.HTTP2.Enabled (the engine's own server).
	HTTP2 *GlobalHTTP2
}

// GlobalHTTP2 are the HTTP/2 settings of the global configuration (Torii's
// http2Settings). Zero fields keep the engine's values (the flags).
type GlobalHTTP2 struct {
	// H2C turns h2c with prior knowledge on the plaintext listener on (1) or
	// off (-1); 0 keeps the engine's setting.
	H2C                                     int8
	MaxConcurrentStreams, MaxHeaderListSize uint32
	StreamWindow, ConnWindow                int32
	IdleTimeout, PingAfter, PingTimeout     time.Duration
}

// routePolicy is the compiled policy steps of one route.
type routePolicy struct {
	// src is the route this policy was compiled from (Consistent checks it).
	src *route.Compiled
	// key is the API key policy of the ApikeyCalls plugin, nil when the
	// route has none.
	key *apikey.Policy
	// overrideHost is set when the route has the OverrideHost plugin: the
	// target's host:port is sent as Host instead of the client's.
	overrideHost bool
	// xForwarded is set when the route has the XForwardedHeaders plugin
	// (Config.XForwardedByPlugin).
	xForwarded bool
	// priv is the AuthModule step (privateapp.go), nil when the route has
	// none.
	priv *privGate
	// chain is the route's other plugins (package plugin), nil when it
	// has none.
	chain *plugin.Chain
	// broken is set when a step's config could not be compiled: the route
	// refuses every request (500) rather than skipping the check.
	broken bool
	// reqBody and respBody are the RequestBodyLengthLimiter and
	// ResponseBodyLengthLimiter steps (bodylimit.go), nil when absent.
	reqBody, respBody *bodyLimiter
}

// BuildSnapshot compiles the per-route policies of routes (the ApikeyCalls
// and PublicPrivatePaths plugins' configs, include and exclude patterns)
// and returns the snapshot to Publish. It allocates and may compile regular
// expressions: call it off the event loops, once per configuration change.
//
// It returns an error naming every route whose plugin config is invalid;
// the snapshot is returned even then, with those routes refusing every
// request (500 errors.route.misconfigured), so a caller that must publish
// something fails closed. A caller that can refuse the change (the admin
// API) should refuse it instead.
func BuildSnapshot(routes *route.Table, keys *apikey.Set, global *Global, version uint64) (*Snapshot, error) {
	snap := &Snapshot{Routes: routes, Keys: keys, Global: global, Version: version}
	err := snap.compilePolicies()
	return snap, err
}

// BuildSnapshotFrom is BuildSnapshot for a change that may have left the
// route table as it was, or changed a few of its routes: when routes is
// prev's table, the new snapshot shares prev's compiled policies (immutable)
// instead of compiling them again, so publishing an API key or global
// config change costs nothing per route; when routes was made by
// prev.Routes.With (route.Table.DeltaFrom), only the policies of the routes
// it added or replaced are compiled, the others are shared. The result is
// what BuildSnapshot would give. prev is a snapshot BuildSnapshot or
// BuildSnapshotFrom returned, or nil.
func BuildSnapshotFrom(prev *Snapshot, routes *route.Table, keys *apikey.Set, global *Global, version uint64) (*Snapshot, error) {
	if prev == nil || !prev.built || routes == nil {
		return BuildSnapshot(routes, keys, global, version)
	}
	snap := &Snapshot{Routes: routes, Keys: keys, Global: global, Version: version, policies: prev.policies, broken: prev.broken, built: true}
	if prev.Routes == routes {
		return snap, nil
	}
	d := routes.DeltaFrom(prev.Routes)
	if d == nil || prev.broken > 0 {
		// A table of its own, or broken routes whose errors a full compile reports.
		return BuildSnapshot(routes, keys, global, version)
	}
	ed := prev.policies.Edit()
	for _, rt := range d.Removed {
		ed.Clear(rt.Index)
	}
	var errs []error
	for _, rt := range d.Added {
		p, err := compileRoutePolicy(rt)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot compile the policy of route %q: %w", rt.ID, err))
			p.broken = true
			snap.broken++
		}
		ed.Set(rt.Index, p)
	}
	snap.policies = ed.Vec()
	return snap, errors.Join(errs...)
}

// compilePolicies fills s.policies from s.Routes.
func (s *Snapshot) compilePolicies() error {
	s.built = true
	if s.Routes == nil {
		return nil
	}
	ed := pvec.Vec[routePolicy]{}.Edit()
	var errs []error
	for _, rt := range s.Routes.Routes() {
		if rt.Index < 0 || rt.Index >= s.Routes.Slots() {
			panic("BUG: route index out of range")
		}
		p, err := compileRoutePolicy(rt)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot compile the policy of route %q: %w", rt.ID, err))
			p.broken = true
			s.broken++
		}
		ed.Set(rt.Index, p)
	}
	s.policies = ed.Vec()
	return errors.Join(errs...)
}

// Consistent checks that the per-route state of s is that of its route
// table: the policy in each route's slot was compiled from that route, the
// other slots are empty, and (once published) each route's slot holds its
// own metrics. Tests of incremental publishing call it after each change; it
// costs O(slots).
func (s *Snapshot) Consistent() error {
	if s == nil || s.Routes == nil {
		return nil
	}
	n := max(s.Routes.Slots(), s.policies.Len())
	if s.obs != nil {
		n = max(n, s.obs.routes.Len())
	}
	for i := range n {
		rt := s.Routes.RouteAt(i)
		var src *route.Compiled
		if p := s.policies.At(i); p != nil {
			src = p.src
		}
		if src != rt {
			return fmt.Errorf("core: slot %d: policy compiled from %s, route there is %s", i, describe(src), describe(rt))
		}
		if s.obs == nil || s.obs.set == nil {
			continue
		}
		var m *metric.RouteMetrics
		if p := s.obs.routes.At(i); p != nil {
			m = *p
		}
		switch {
		case rt == nil && m != nil:
			return fmt.Errorf("core: slot %d: metrics of route %q in a free slot", i, m.ID())
		case rt != nil && (m == nil || m.ID() != rt.ID):
			return fmt.Errorf("core: slot %d: route %q has metrics %v", i, rt.ID, m)
		}
	}
	return nil
}

// describe names a compiled route in Consistent's errors.
func describe(rt *route.Compiled) string {
	if rt == nil {
		return "nothing"
	}
	return fmt.Sprintf("route %q (%p)", rt.ID, rt)
}

func compileRoutePolicy(rt *route.Compiled) (routePolicy, error) {
	var in apikey.PolicyInput
	var hasKey, overrideHost, xForwarded bool
	var priv *privGate
	var reqBody, respBody *bodyLimiter
	for i := range rt.Steps {
		st := &rt.Steps[i]
		switch st.Name {
		case "RequestBodyLengthLimiter", "ResponseBodyLengthLimiter":
			l, err := compileBodyLimiter(st.Name, st.Config)
			if err != nil {
				return routePolicy{}, err
			}
			if st.Name == "RequestBodyLengthLimiter" {
				reqBody = tighter(reqBody, l)
			} else {
				respBody = tighter(respBody, l)
			}
		case "OverrideHost":
			overrideHost = true
		case "XForwardedHeaders":
			xForwarded = true
		case "AuthModule", "MultiAuthModule":
			if priv != nil {
				continue // the first instance decides
			}
			g, err := compilePrivGate(st.Name, st.Config)
			if err != nil {
				return routePolicy{}, err
			}
			priv = g
		case "ApikeyCalls":
			if hasKey {
				continue // the first instance decides, as Otoroshi runs them in order
			}
			hasKey = true
			in.ApikeyCalls, in.Include, in.Exclude = st.Config, st.Include, st.Exclude
		case "PublicPrivatePaths":
			if in.PublicPrivatePaths == nil {
				in.PublicPrivatePaths = st.Config
			}
		}
	}
	rp := routePolicy{src: rt, overrideHost: overrideHost, xForwarded: xForwarded, priv: priv, reqBody: reqBody, respBody: respBody}
	ch, err := plugin.Compile(rt)
	if err != nil {
		return rp, err
	}
	rp.chain = ch
	if !hasKey {
		return rp, nil
	}
	p, err := apikey.NewPolicy(in)
	if err != nil {
		return rp, err
	}
	rp.key = p
	return rp, nil
}

// prepareSnapshot returns snap with its policies compiled: snap itself when
// BuildSnapshot made it, else a copy (the caller's value is never
// modified). Errors are logged; the routes concerned fail closed.
func prepareSnapshot(snap *Snapshot, log *slog.Logger) *Snapshot {
	if snap == nil || snap.built {
		return snap
	}
	cp, err := BuildSnapshot(snap.Routes, snap.Keys, snap.Global, snap.Version)
	cp.JWT = snap.JWT
	if err != nil {
		log.Error("published snapshot has routes with an invalid policy; they refuse every request", "version", snap.Version, "err", err)
	}
	return cp
}

// policyOf returns the policy steps of rt, which s.Routes matched.
func (s *Snapshot) policyOf(rt *route.Compiled) *routePolicy {
	return s.policies.At(rt.Index)
}
