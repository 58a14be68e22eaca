package route

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/torii-gateway/torii/core/upstls"
	"github.com/torii-gateway/torii/httpparse"
)

// CompileOptions tunes Compile.
type CompileOptions struct {
	// Registry holds target runtime state across reloads; nil means a fresh one.
	Registry *Registry
	// Seed seeds the Random, WeightedBestResponseTime and PowerOfTwoRandomChoices
	// generators; 0 means a seed from the clock. Tests set it for reproducible picks.
	Seed uint64
	// Resolver resolves target hostnames; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// ResolveTimeout bounds the resolution of each hostname; 0 means 2 s.
	ResolveTimeout time.Duration
	// Names, when set, answers target hostnames from a cache filled off the event loops, and
	// Compile never queries DNS: a name it does not know makes its target down (DownUnresolved)
	// with a warning, never an error. Resolver and ResolveTimeout are then unused.
	Names Names
}

// Names is a cache of resolved target hostnames (lower case, without the final dot).
type Names interface {
	// Lookup returns the address of host, ok=false when it does not resolve (yet). It must
	// not block on the network.
	Lookup(host string) (addr netip.Addr, ok bool)
}

// Why a compiled target is down whatever its health: Upstream.Down.
const (
	DownUnresolved = "unresolved" // its hostname does not resolve (yet)
)

// defaultResolveTimeout bounds one hostname resolution so that a dead DNS server cannot
// hold a reload for long.
const defaultResolveTimeout = 2 * time.Second

// FieldError is a validation error naming the route and the field at fault.
type FieldError struct {
	RouteID, Field, Message string
}

// Error formats the error as route "id": field: message.
func (e *FieldError) Error() string {
	return fmt.Sprintf("route %q: %s: %s", e.RouteID, e.Field, e.Message)
}

// Unwrap makes errors.Is(err, ErrInvalidRoute) hold.
func (e *FieldError) Unwrap() error { return ErrInvalidRoute }

// compiler carries the state of one Compile call.
type compiler struct {
	opts     CompileOptions
	reg      *Registry
	errs     []error
	warnings []Warning
	resolved map[string]resolution
	seed     uint64
	// routeHosts are the hostnames each route asked of opts.Names, by route id; routeID is
	// the route being compiled.
	routeHosts map[string][]string
	routeID    string
}

type resolution struct {
	addr netip.Addr
	err  error
}

func (c *compiler) fail(routeID, field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{RouteID: routeID, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *compiler) warn(routeID, field, format string, args ...any) {
	c.warnings = append(c.warnings, Warning{RouteID: routeID, Field: field, Message: fmt.Sprintf(format, args...)})
}

// compileRoute validates one route and returns one Compiled per domain (nil when invalid).
func (c *compiler) compileRoute(r *Route, index int) []*Compiled {
	nerr := len(c.errs)
	id := r.ID
	c.routeID = id
	cl := r.Backend.Client
	if cl.Retries < 0 {
		c.fail(id, "backend.client.retries", "must be >= 0, got %d", cl.Retries)
	}
	if cl.MaxErrors < 0 {
		c.fail(id, "backend.client.max_errors", "must be >= 0, got %d", cl.MaxErrors)
	}
	if cl.BackoffFactor < 0 {
		c.fail(id, "backend.client.backoff_factor", "must be >= 0, got %d", cl.BackoffFactor)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"retry_initial_delay", cl.RetryInitialDelay}, {"call_timeout", cl.CallTimeout},
		{"call_and_stream_timeout", cl.CallAndStreamTimeout}, {"connection_timeout", cl.ConnectionTimeout},
		{"idle_timeout", cl.IdleTimeout}, {"global_timeout", cl.GlobalTimeout}, {"sample_interval", cl.SampleInterval},
	} {
		if f.v < 0 {
			c.fail(id, "backend.client."+f.name, "must be >= 0 ms, got %d", f.v)
		}
	}

	root := r.Backend.Root
	if root == "" {
		root = "/"
	}
	if root[0] != '/' || strings.ContainsAny(root, "?# \t\r\n") {
		c.fail(id, "backend.root", "must be a path starting with '/' without query, got %q", root)
	}
	if r.Backend.Rewrite {
		c.warn(id, "backend.rewrite", "path rewriting with named groups is not supported; the path is forwarded as strip_path and root say")
	}
	// Otoroshi can take the backend, or targets, from stored entities Torii does not have.
	if ref := nonNull(r.Extra["backend_ref"]); ref != "" {
		c.fail(id, "backend_ref", "stored backends (%s) are not supported; inline the backend in the route", ref)
	}
	var refs []json.RawMessage
	if raw := r.Backend.Extra["target_refs"]; raw != nil && json.Unmarshal(raw, &refs) == nil && len(refs) > 0 {
		c.warn(id, "backend.target_refs", "%d stored targets are ignored; only backend.targets are used", len(refs))
	}

	m := c.compileMatchers(r)
	steps := c.compileSteps(r)
	p := c.compilePool(r, index)
	cn := c.compileCanary(r, steps, index)

	if len(r.Frontend.Domains) == 0 && r.Enabled {
		c.fail(id, "frontend.domains", "an enabled route needs at least one domain")
	}
	var out []*Compiled
	seenDomain := make(map[string]bool)
	for i, d := range r.Frontend.Domains {
		host, path, err := splitDomain(d)
		if err != nil {
			c.fail(id, fmt.Sprintf("frontend.domains[%d]", i), "%s", err)
			continue
		}
		domain := host + path
		if seenDomain[domain] {
			c.warn(id, fmt.Sprintf("frontend.domains[%d]", i), "duplicate domain %q ignored", d)
			continue
		}
		seenDomain[domain] = true
		out = append(out, &Compiled{
			ID: id, Name: r.Name, Route: r, Client: cl, Domain: domain, Prefix: path,
			Exact: r.Frontend.Exact, Steps: steps, stripPath: r.Frontend.StripPath, root: root,
			match: m, pool: p, canary: cn,
		})
	}
	if len(c.errs) != nerr || p == nil {
		return nil
	}
	return out
}

// nonNull returns the compact text of a raw JSON member, or "" when it is absent or null.
func nonNull(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if s == "null" {
		return ""
	}
	return s
}

// targetKey is the registry key of a target: quoting keeps it unambiguous whatever the
// ids contain (route "a/b" with target "c" differs from route "a" with target "b/c").
func targetKey(routeID, targetID string, addr netip.AddrPort) string {
	return strconv.Quote(routeID) + "/" + strconv.Quote(targetID) + "@" + addr.String()
}

// splitDomain validates a domain entry and returns its lower-case host and its path ("/"
// when absent).
func splitDomain(d string) (host, path string, err error) {
	host, path = d, "/"
	if i := strings.IndexByte(d, '/'); i >= 0 {
		host, path = d[:i], d[i:]
	}
	host = strings.ToLower(host)
	if strings.ContainsAny(path, "?# \t\r\n") {
		return "", "", fmt.Errorf("path %q must not contain '?', '#' or spaces", path)
	}
	if host == "*" {
		return host, path, nil
	}
	name := host
	if strings.HasPrefix(host, "*.") {
		name = host[2:]
	}
	if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
		if _, perr := netip.ParseAddr(name[1 : len(name)-1]); perr != nil || name != host {
			return "", "", fmt.Errorf("invalid IPv6 host %q", host)
		}
		return host, path, nil
	}
	glob := strings.Contains(name, "*")
	if glob && strings.Contains(name, "**") {
		return "", "", fmt.Errorf("host %q: \"**\" is not a valid wildcard", host)
	}
	if strings.Contains(name, ":") {
		return "", "", fmt.Errorf("host %q: ports are not part of a domain (the Host port is ignored)", host)
	}
	if len(name) == 0 || len(name) > 253 {
		return "", "", fmt.Errorf("host %q: must have 1 to 253 characters", host)
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 {
			return "", "", fmt.Errorf("host %q: empty or over-long label", host)
		}
		for j := 0; j < len(label); j++ {
			if !isHostChar(label[j]) && !(glob && label[j] == '*') {
				return "", "", fmt.Errorf("host %q: invalid character %q", host, label[j])
			}
		}
	}
	return strings.TrimSuffix(host, "."), path, nil
}

// isHostChar accepts the characters of a DNS label, lower-cased (RFC 1123 §2.1:
// letters, digits and '-'), plus '_', which some internal names carry.
func isHostChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

var methodKinds = map[string]httpparse.Method{
	"GET": httpparse.MethodGet, "HEAD": httpparse.MethodHead, "POST": httpparse.MethodPost,
	"PUT": httpparse.MethodPut, "DELETE": httpparse.MethodDelete, "CONNECT": httpparse.MethodConnect,
	"OPTIONS": httpparse.MethodOptions, "TRACE": httpparse.MethodTrace, "PATCH": httpparse.MethodPatch,
}

func (c *compiler) compileMatchers(r *Route) matchers {
	var m matchers
	for i, name := range r.Frontend.Methods {
		up := strings.ToUpper(strings.TrimSpace(name))
		if up == "" || strings.ContainsAny(up, " \t\r\n()<>@,;:\\\"/[]?={}") {
			c.fail(r.ID, fmt.Sprintf("frontend.methods[%d]", i), "invalid method %q", name)
			continue
		}
		if k, ok := methodKinds[up]; ok {
			m.methods |= 1 << k
		} else if !slices.Contains(m.other, up) {
			m.other = append(m.other, up)
		}
	}
	for _, name := range sortedKeys(r.Frontend.Headers) {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			c.fail(r.ID, "frontend.headers", "invalid header name %q", name)
			continue
		}
		m.headers = append(m.headers, nameValue{strings.ToLower(name), r.Frontend.Headers[name]})
	}
	for _, name := range sortedKeys(r.Frontend.Query) {
		if name == "" {
			c.fail(r.ID, "frontend.query", "empty query parameter name")
			continue
		}
		m.query = append(m.query, nameValue{name, r.Frontend.Query[name]})
	}
	m.any = m.methods != 0 || m.other != nil || m.headers != nil || m.query != nil
	return m
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// weight orders matchers: more conditions first among routes sharing a path.
func (m *matchers) weight() int {
	n := len(m.headers) + len(m.query)
	if m.methods != 0 || m.other != nil {
		n++
	}
	return n
}

// key is a canonical form of the matchers, for conflict detection.
func (m *matchers) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "m%x", m.methods)
	for _, o := range m.other {
		b.WriteString("," + o)
	}
	for _, h := range m.headers {
		fmt.Fprintf(&b, "\x00h%q=%q", h.name, h.value)
	}
	for _, q := range m.query {
		fmt.Fprintf(&b, "\x00q%q=%q", q.name, q.value)
	}
	return b.String()
}

func (m *matchers) describe() string {
	if !m.any {
		return ""
	}
	return " with the same headers, query and methods matchers"
}

func (c *compiler) compileSteps(r *Route) []Step {
	var steps []Step
	for i := range r.Plugins {
		pl := &r.Plugins[i]
		if pl.Plugin == "" {
			c.fail(r.ID, fmt.Sprintf("plugins[%d].plugin", i), "must not be empty")
			continue
		}
		if !pl.Enabled {
			continue
		}
		name, known := pluginName(pl.Plugin)
		if !known {
			c.warn(r.ID, fmt.Sprintf("plugins[%d]", i), "plugin %q is not supported by Torii; kept but not run", pl.Plugin)
		}
		steps = append(steps, Step{Index: i, ID: pl.Plugin, Name: name, Supported: known,
			Include: pl.Include, Exclude: pl.Exclude, Config: pl.Config})
	}
	return steps
}

func (c *compiler) compilePool(r *Route, index int) *pool {
	id := r.ID
	b := &r.Backend
	nerr := len(c.errs)
	p := &pool{interval: b.Client.SampleInterval * int64(time.Millisecond)}
	p.rnd.Store(c.seed ^ (uint64(index+1) * 0x9e3779b97f4a7c15))

	lb, ok := parseBalancing(b.LoadBalancing.Type)
	if !ok {
		c.warn(id, "backend.load_balancing.type", "unknown type %q, using RoundRobin", b.LoadBalancing.Type)
	}
	p.lb = lb
	switch lb {
	case Sticky:
		p.key = TrackingCookie
	case HeaderHash:
		p.key = strings.ToLower(b.LoadBalancing.HeaderName)
	case CookieHash:
		p.key = b.LoadBalancing.CookieName
	case QueryHash:
		p.key = b.LoadBalancing.QueryName
	case WeightedBestResponseTime:
		p.ratio = b.LoadBalancing.Ratio
		if p.ratio == 0 {
			p.ratio = 0.5
		}
		if p.ratio < 0 || p.ratio > 1 {
			c.fail(id, "backend.load_balancing.ratio", "must be within [0, 1], got %g", p.ratio)
		}
	}
	if (lb == HeaderHash || lb == CookieHash || lb == QueryHash) && p.key == "" {
		c.fail(id, "backend.load_balancing", "%s needs its %s", lb, map[Balancing]string{
			HeaderHash: "header_name", CookieHash: "cookie_name", QueryHash: "query_name"}[lb])
	}

	if hc := b.HealthCheck; hc != nil && hc.Enabled {
		if hc.Timeout < 0 {
			c.fail(id, "backend.health_check.timeout", "must be >= 0 ms, got %d", hc.Timeout)
		}
		if hc.URL == "" || !strings.HasPrefix(hc.URL, "/") && !strings.HasPrefix(hc.URL, "http://") {
			c.fail(id, "backend.health_check.url", "must be a path or an http:// URL, got %q", hc.URL)
		}
		for _, s := range append(slices.Clone(hc.HealthyStatuses), hc.UnhealthyStatuses...) {
			if s < 100 || s > 599 {
				c.fail(id, "backend.health_check", "invalid status %d", s)
			}
		}
		p.hc = hc
	}

	if len(b.Targets) == 0 && r.Enabled {
		c.fail(id, "backend.targets", "an enabled route needs at least one target")
	}
	if len(b.Targets) > MaxTargets {
		c.fail(id, "backend.targets", "%d targets, at most %d are supported", len(b.Targets), MaxTargets)
		return nil
	}
	ids := make(map[string]bool)
	anyWeight := false
	p.ups = make([]Upstream, len(b.Targets))
	for i := range b.Targets {
		tg := &b.Targets[i]
		field := fmt.Sprintf("backend.targets[%d]", i)
		tid := tg.ID
		if tid == "" {
			tid = net.JoinHostPort(tg.Hostname, strconv.Itoa(tg.Port))
		}
		if ids[tid] {
			c.fail(id, field+".id", "duplicate target id %q", tid)
		}
		ids[tid] = true
		if tg.Hostname == "" {
			c.fail(id, field+".hostname", "must not be empty")
		}
		if tg.Port < 1 || tg.Port > 65535 {
			c.fail(id, field+".port", "must be within 1..65535, got %d", tg.Port)
		}
		if tg.Weight < 0 {
			c.fail(id, field+".weight", "must be >= 0, got %d", tg.Weight)
		}
		if tg.Weight > maxWeight {
			c.fail(id, field+".weight", "must be <= %d, got %d", maxWeight, tg.Weight)
		}
		anyWeight = anyWeight || tg.Weight > 0
		h2 := false
		switch strings.ToUpper(strings.TrimSpace(tg.Protocol)) {
		case "", "HTTP/1.1", "HTTP/1.0":
		case "HTTP/2.0", "HTTP/2":
			h2 = true // h2c, or h2 over TLS for a tls target (package h2up)
		default:
			c.warn(id, field+".protocol", "%q is not supported, HTTP/1.1 is used", tg.Protocol)
		}
		p.ups[i] = Upstream{ID: tid, HostPort: net.JoinHostPort(tg.Hostname, strconv.Itoa(tg.Port)),
			Weight: tg.Weight, Backup: tg.Backup, Target: tg, H2: h2}
		if tg.Weight > 0 {
			if tg.Backup {
				p.backup |= 1 << i
			} else {
				p.primary |= 1 << i
			}
		}
	}
	if len(b.Targets) > 0 && !anyWeight {
		c.fail(id, "backend.targets", "at least one target needs a weight > 0")
	}
	if len(c.errs) != nerr {
		return nil
	}
	if !r.Enabled {
		return p
	}
	for i := range p.ups {
		u := &p.ups[i]
		tg := u.Target
		field := fmt.Sprintf("backend.targets[%d]", i)
		addr, err := c.resolve(tg)
		if err != nil && c.opts.Names == nil {
			c.errs = append(c.errs, fmt.Errorf("route %q: %s.hostname: %w", id, field, err))
			continue
		}
		if tg.TLS {
			conf, terr := targetTLSConfig(tg)
			if terr != nil {
				c.fail(id, field+".tls_config", "%v", terr)
				continue
			}
			u.TLS = upstls.Intern(tg.Hostname, conf)
		}
		if err != nil {
			// Names are resolved off the loops and published like any change: until this
			// one resolves, the target is down, never the configuration.
			if u.Down == "" {
				u.Down = DownUnresolved
			}
			c.warn(id, field+".hostname", "%q does not resolve (yet): the target is unavailable until it does", tg.Hostname)
		}
		if u.Down != "" {
			p.down |= 1 << i
		} else {
			u.Addr = netip.AddrPortFrom(addr, uint16(tg.Port))
		}
		u.Key = targetKey(id, u.ID, u.Addr)
		u.state = c.reg.state(u.Key, id, u.ID)
	}
	if len(c.errs) != nerr {
		return nil
	}
	p.seq = smoothSequence(p.ups, p.primary)
	p.bseq = smoothSequence(p.ups, p.backup)
	return p
}

// targetTLSConfig decodes a TLS target's tls_config (Otoroshi's NG target member; absent means
// the defaults: system roots, host name verified, no client certificate).
func targetTLSConfig(tg *Target) (upstls.Config, error) {
	var conf upstls.Config
	raw, ok := tg.Extra["tls_config"]
	if !ok || string(raw) == "null" {
		return conf, nil
	}
	if err := json.Unmarshal(raw, &conf); err != nil {
		return conf, fmt.Errorf("cannot decode: %v", err)
	}
	return conf, nil
}
