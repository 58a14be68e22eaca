package admin

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/torii-gateway/torii/core/dns"
	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/otoroshi"
)

// Target host names are resolved by a dns.Cache on its own goroutine (started by New, stopped by
// Close), never while a configuration is compiled, imported or written: the compiler reads the
// cache (route.CompileOptions.Names), a name it does not know yet makes its targets down, and when
// the cache's answers change the current state is compiled again and published like any change.

// startupDNSWait bounds how long New waits for the first answers before publishing, so that a
// restart does not serve 503 for names that resolve in milliseconds; importDNSWait bounds how
// long an import waits, after it was stored and published, to tell in its report which names do
// not resolve.
const (
	startupDNSWait = 3 * time.Second
	importDNSWait  = 2 * time.Second
)

var (
	metricDNSLookups  = metrics.GetOrCreateCounter("torii_dns_lookups_total")
	metricDNSFailures = metrics.GetOrCreateCounter("torii_dns_failures_total")
	// lastNames is the name cache of the last Server created, which the gauges read.
	lastNames atomic.Pointer[dns.Cache]
	_         = metrics.GetOrCreateGauge("torii_dns_unresolved_names", func() float64 { return namesStat().Unresolved })
	_         = metrics.GetOrCreateGauge("torii_dns_watched_names", func() float64 { return namesStat().Watched })
)

// namesStat reads the gauges' values from lastNames.
func namesStat() (st struct{ Unresolved, Watched float64 }) {
	if c := lastNames.Load(); c != nil {
		s := c.Stats()
		st.Unresolved, st.Watched = float64(s.Unresolved), float64(s.Watched)
	}
	return st
}

// startNames creates the name cache and its goroutine.
func (s *Server) startNames(opts dns.Options) {
	opts.OnChange = s.namesChanged
	opts.OnLookup = func(ok bool) {
		metricDNSLookups.Inc()
		if !ok {
			metricDNSFailures.Inc()
		}
	}
	opts.Log = s.log
	s.names = dns.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	s.stopNames = func() { cancel(); <-s.namesDone }
	s.namesDone = make(chan struct{})
	go func() { defer close(s.namesDone); s.names.Run(ctx) }()
	lastNames.Store(s.names)
}

// primeNames watches the names of a compiled table and waits (up to d) for their first answers.
// It reports whether some name resolved meanwhile (the table is then worth compiling again).
func (s *Server) primeNames(t *route.Table, d time.Duration) bool {
	hosts := t.Hostnames()
	if len(hosts) == 0 {
		return false
	}
	s.names.Watch(hosts)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	s.names.Wait(ctx, hosts)
	for _, h := range hosts {
		if _, ok := s.names.Lookup(h); ok {
			return true
		}
	}
	return false
}

// namesChanged runs on the resolver goroutine when an address appeared, changed or went away:
// the current state is compiled again and published, and an alert event says which targets went
// up or down.
func (s *Server) namesChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.cur.Load()
	if st == nil {
		return // New is still starting: it compiles again after its first answers
	}
	before := s.published.Load()
	c, err := s.compiler.compile(st, s.version+1)
	if err != nil {
		s.log.Error("configuration does not compile after a DNS change; the last one stays published", "err", err)
		return
	}
	s.version++
	s.publish(c)
	s.emitNameAlerts(before, c)
}

// emitNameAlerts sends an AlertEvent per target whose hostname stopped or started resolving.
func (s *Server) emitNameAlerts(before, after *compiled) {
	if s.opts.Events == nil || after == nil {
		return
	}
	was := map[string]string{}
	if before != nil {
		for _, rt := range before.routes.Routes() {
			for _, u := range rt.Upstreams() {
				was[rt.ID+"/"+u.ID] = u.Down
			}
		}
	}
	for _, rt := range after.routes.Routes() {
		for _, u := range rt.Upstreams() {
			prev, known := was[rt.ID+"/"+u.ID]
			if (u.Down == route.DownUnresolved) == (prev == route.DownUnresolved) && known {
				continue
			}
			if !known && u.Down != route.DownUnresolved {
				continue
			}
			alert := "TargetHostnameResolved"
			if u.Down == route.DownUnresolved {
				alert = "TargetHostnameUnresolved"
			}
			host := ""
			if u.Target != nil {
				host = u.Target.Hostname
			}
			ev, err := jsonx.Encode(map[string]any{"@type": event.KindAlert, "@id": newUUID(),
				"@timestamp": time.Now().UnixMilli(), "@product": "torii", "alert": alert,
				"route": rt.ID, "target": u.ID, "hostname": host})
			if err == nil {
				s.opts.Events.Publish(event.KindAlert, ev)
			}
		}
	}
}

// reportRouteWarnings adds the compiler's warnings to an import report: a target that is down
// (a name that does not resolve, a TLS target) under Warnings, the rest under Unsupported. Routes
// converted from service descriptors are named as descriptors. A name that resolved since the
// compile is no longer a warning.
func (s *Server) reportRouteWarnings(rep *otoroshi.Report, c *compiled) {
	st := s.cur.Load()
	for _, wa := range c.routes.Warnings() {
		entity := "routes/" + wa.RouteID
		if st.ents[kDescriptors].Has(wa.RouteID) {
			entity = "serviceDescriptors/" + wa.RouteID
		}
		f := otoroshi.UnsupportedField{Entity: entity, Field: wa.Field, Message: wa.Message}
		switch {
		case strings.HasSuffix(wa.Field, ".hostname"):
			if s.targetResolves(c, wa) {
				continue
			}
			rep.Warnings = append(rep.Warnings, f)
		default:
			rep.Unsupported = append(rep.Unsupported, f)
		}
	}
	rep.Sort()
}

// targetResolves reports whether the hostname of the target a warning names resolves now.
func (s *Server) targetResolves(c *compiled, wa route.Warning) bool {
	rt := c.routes.Route(wa.RouteID)
	rest, ok := strings.CutPrefix(wa.Field, "backend.targets[")
	idx, _, _ := strings.Cut(rest, "]")
	i, err := strconv.Atoi(idx)
	if rt == nil || !ok || err != nil || i >= len(rt.Upstreams()) || rt.Upstreams()[i].Target == nil {
		return false
	}
	_, resolved := s.names.Lookup(rt.Upstreams()[i].Target.Hostname)
	return resolved
}
