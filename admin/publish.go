package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"runtime"
	"slices"
	"sync"

	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/clientcreds"
	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/dns"
	"github.com/torii-gateway/torii/core/plugin"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/core/upstls"
	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/internal/pmap"
	"github.com/torii-gateway/torii/otoroshi"
	"github.com/torii-gateway/torii/tlsedge"
)

// Publisher receives every new snapshot; *core.Server satisfies it. Publish must not block for
// long: it is called with the writer mutex held.
type Publisher interface {
	Publish(*core.Snapshot)
}

// compiled is the result of one successful compile, ready to publish.
type compiled struct {
	routes  *route.Table
	keys    *apikey.Set
	global  *GlobalSettings
	version uint64
	snap    *core.Snapshot // what is published: routes, keys and global with their policies
	tls     *tlsedge.Table // the SNI table of the certificates
	certs   []certInfo     // every stored certificate with a chain, for expiry metrics and alerts
	upcerts *upstreamCerts // the certificates TLS targets' tls_config names (upstreamtls.go)
	// auths are the auth modules and private the routes that matter to the login server (those
	// auth.LoginRelevant holds for; the routes it adds are not there), for the login server.
	auths   []*auth.Config
	private []route.Route
	// With a login server, authRoutes are the private routes by id and logins the ids of the
	// routes added to the login pages, sorted: a route write makes the login routes again
	// from these, not from every route.
	authRoutes pmap.Map[route.Route]
	logins     []string
	// jwt is the compiled jwtVerifiers (jwt.go).
	jwt *plugin.VerifierSet
}

// keyFieldRe finds the field an apikey validation error names ("... field clientSecret: ...").
var keyFieldRe = regexp.MustCompile(`field (\S+):`)

// compiler turns a state into a snapshot. Its route registry is kept across compiles so that
// per-target runtime state (health, circuit breakers, latency) survives reloads.
type compiler struct {
	reg   *route.Registry
	log   *slog.Logger
	names *dns.Cache // nil: names are resolved while compiling (the cluster worker's compiler)
	// counters are the proxy's quota counters, looked up once per key at compile time.
	counters *quota.Counters
	// login is the private-app login server, or nil.
	login *auth.Server
	// cc is the client-credentials endpoint, or nil; ccRoutes says the last full compile found
	// routes with NgClientCredentials (a route change then compiles everything again).
	cc       *clientcreds.Server
	ccRoutes bool
	// acme is the loopback address of the ACME challenge server (Options.ACMEChallenges).
	acme netip.AddrPort
}

func newCompiler(log *slog.Logger, names *dns.Cache) *compiler {
	return &compiler{reg: route.NewRegistry(), log: log, names: names}
}

// compile decodes every route and key with the typed packages and compiles them. Errors name the
// entity and the field. Target hostnames come from the name cache: compiling never waits for DNS.
func (c *compiler) compile(st *state, version uint64) (*compiled, error) {
	// The keys compile on every core while the routes do (the route table is built on one): at a
	// million keys and 100k routes, both take seconds at start.
	var keys []*apikey.Key
	var fields []FieldError
	keysDone := make(chan struct{})
	go func() {
		defer close(keysDone)
		keys, fields = c.compileKeys(st.ents[kKeys].Values())
	}()
	rs, err := c.compileRoutes(st)
	<-keysDone
	if err != nil {
		return nil, err
	}
	auths, err := compileAuths(st)
	if err != nil {
		return nil, err
	}
	jwt, err := compileVerifiers(st)
	if err != nil {
		return nil, err
	}
	if len(fields) > 0 {
		return nil, invalidConfig(fields)
	}
	set, err := apikey.NewSet(keys, c.counters)
	if err != nil {
		return nil, &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.configuration",
			Message: "the configuration would not compile: " + err.Error()}
	}
	global, err := compileGlobalOf(st)
	if err != nil {
		return nil, err
	}
	out, err := c.assemble(nil, rs.table, set, global, version)
	if err != nil {
		return nil, err
	}
	out.tls, out.certs = compileTLS(st, out.routes)
	out.upcerts = compileUpstreamCerts(st)
	out.auths = auths
	out.private, out.authRoutes, out.logins = rs.private, rs.authRoutes, rs.logins
	out.jwt, out.snap.JWT = jwt, jwt
	return out, nil
}

// update compiles st after the write ws from prev, the last compiled state, recompiling only
// what the write touched: the API keys it changed (apikey.Set.With, O(changed keys) whatever
// the number of keys), the route table when a route changed, the global config when it changed.
// Without prev, or after a write that replaced whole buckets (an import), it compiles
// everything. The result is what compile(st) would give (TestIncrementalMatchesFullCompile).
//
// A refused write may have created registry states for targets that were never published
// (compiling gives each target its state); they are dropped before update returns, for the
// routes the write named, or all of them when it compiled every route.
func (c *compiler) update(prev *compiled, st *state, ws *writeSet, version uint64) (out *compiled, err error) {
	if prev == nil || len(ws.reset) > 0 {
		out, err = c.compile(st, version)
		if err != nil && prev != nil {
			c.reg.Prune(prev.routes)
		}
		return out, err
	}
	var keyIDs, routeIDs, descIDs []string
	routes, global, certs, auths, jwts := false, false, false, false, false
	for _, ch := range ws.changes {
		switch ch.bucket {
		case bucketCerts:
			certs = true
			routes = routes || c.acme.IsValid() // the ACME challenge routes follow the certificates
		case arrayJWTVerifiers:
			jwts = true
		case otoroshi.ArrayAuthConfigs:
			auths = true
		case bucketKeys:
			keyIDs = append(keyIDs, ch.key)
		case bucketRoutes:
			routes = true
			routeIDs = append(routeIDs, ch.key)
		case bucketDescriptors: // descriptors compile into routes
			routes = true
			descIDs = append(descIDs, ch.key)
		case bucketGlobal:
			global = true
		}
	}
	set, g := prev.keys, prev.global
	mods := prev.auths
	rs := routeSet{table: prev.routes, private: prev.private, authRoutes: prev.authRoutes, logins: prev.logins}
	full := routes && (len(routeIDs)+len(descIDs) != len(ws.changes) ||
		c.cc != nil && (c.ccRoutes || changedUse(st, kRoutes, routeIDs, clientcreds.PluginName) || changedUse(st, kDescriptors, descIDs, clientcreds.PluginName)) ||
		clash(st, routeIDs, descIDs))
	defer func() {
		switch {
		case err == nil || !routes:
		case full:
			c.reg.Prune(prev.routes)
		default:
			c.reg.PruneRoutes(prev.routes, append(routeIDs, descIDs...))
		}
	}()
	switch {
	case full:
		// A route with client credentials adds routes, other changes (ACME certificates) add
		// routes too, and a route and a descriptor with one id are refused with a message
		// that names both: keep to the full compile.
		if rs, err = c.compileRoutes(st); err != nil {
			return nil, err
		}
	case routes:
		switch rs, err = c.updateRoutes(prev, st, routeIDs, descIDs); {
		case errors.Is(err, errFullCompile):
			full = true
			if rs, err = c.compileRoutes(st); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		}
	}
	table := rs.table
	if auths {
		if mods, err = compileAuths(st); err != nil {
			return nil, err
		}
	}
	if len(keyIDs) > 0 {
		var present []*entity
		var del []string
		for _, id := range keyIDs {
			if e, ok := st.ents[kKeys].Get(id); ok {
				present = append(present, e)
			} else {
				del = append(del, id)
			}
		}
		put, fields := c.compileKeys(present)
		if len(fields) > 0 {
			return nil, invalidConfig(fields)
		}
		set = set.WithKeys(put, del)
	}
	if global {
		if g, err = compileGlobalOf(st); err != nil {
			return nil, err
		}
	}
	jwt := prev.jwt
	if jwts {
		if jwt, err = compileVerifiers(st); err != nil {
			return nil, err
		}
	}
	out, err = c.assemble(prev.snap, table, set, g, version)
	if err != nil {
		return nil, err
	}
	out.tls, out.certs, out.upcerts = prev.tls, prev.certs, prev.upcerts
	// The certificates, the mTLS hosts (of the routes that want a client certificate), the
	// default domain.
	if certs || global || routes && wantClientCert(table.DeltaFrom(prev.routes)) {
		out.tls, out.certs = compileTLS(st, out.routes)
	}
	if certs {
		out.upcerts = compileUpstreamCerts(st)
	}
	out.auths = mods
	out.private, out.authRoutes, out.logins = rs.private, rs.authRoutes, rs.logins
	out.jwt, out.snap.JWT = jwt, jwt
	return out, nil
}

// compileAuths decodes the auth modules of st; errors name the module and the field.
func compileAuths(st *state) ([]*auth.Config, error) {
	var fields []FieldError
	var out []*auth.Config
	for _, e := range st.ents[kAuths].All() {
		a, err := auth.Decode(e.raw)
		if err != nil {
			field, msg := auth.FieldOf(err)
			fields = append(fields, FieldError{Field: jsonx.JoinPath("auth module "+e.id, field), Message: msg})
			continue
		}
		out = append(out, a)
	}
	if len(fields) > 0 {
		return nil, invalidConfig(fields)
	}
	return out, nil
}

// routeSet is a compiled route table with what the login server needs of its routes.
type routeSet struct {
	table      *route.Table
	private    []route.Route         // compiled.private
	authRoutes pmap.Map[route.Route] // compiled.authRoutes
	logins     []string              // compiled.logins
}

// errFullCompile is updateRoutes's answer to a change it cannot make by difference.
var errFullCompile = errors.New("admin: the change needs a full compile")

// compileRoutes decodes and compiles every route of st, with the routes to the private-app login
// pages added; it also returns the routes that matter to the login server.
func (c *compiler) compileRoutes(st *state) (routeSet, error) {
	ents := st.ents[kRoutes].Values()
	routes := make([]route.Route, len(ents))
	errs := make([]*FieldError, len(ents))
	parallel(len(ents), func(lo, hi int) {
		rd := &reader{}
		defer rd.close()
		for i := lo; i < hi; i++ {
			if err := decodeStored(rd.bytes(ents[i]), &routes[i]); err != nil {
				errs[i] = &FieldError{Field: "route " + ents[i].id, Message: err.Error()}
			}
		}
	})
	var fields []FieldError // any refuses the compile below: routes keeps no failed one
	for i := range errs {
		if errs[i] != nil {
			fields = append(fields, *errs[i])
		}
	}
	for _, e := range st.sorted(kDescriptors) {
		r, err := descriptorRoute(e)
		if err != nil {
			fields = append(fields, FieldError{Field: "service descriptor " + r.ID, Message: err.Error()})
			continue
		}
		routes = append(routes, r)
	}
	if len(fields) > 0 {
		return routeSet{}, invalidConfig(fields)
	}
	var rs routeSet
	if c.login != nil {
		for i := range routes {
			if auth.LoginRelevant(&routes[i]) {
				rs.private = append(rs.private, routes[i])
				rs.authRoutes = rs.authRoutes.Set(routes[i].ID, routes[i])
			}
		}
		n := len(routes)
		routes = auth.LoginRoutes(routes, c.login.Addr())
		for _, r := range routes[n:] {
			rs.logins = append(rs.logins, r.ID)
		}
		slices.Sort(rs.logins)
	}
	var ccConfs map[string]clientcreds.Config
	if c.cc != nil {
		var err error
		if routes, ccConfs, err = clientcreds.Routes(routes, c.cc.Addr()); err != nil {
			return routeSet{}, &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.configuration",
				Message: "the configuration would not compile: " + err.Error(), Fields: []FieldError{{Field: "plugins", Message: err.Error()}}}
		}
		c.ccRoutes = len(ccConfs) > 0
		// Handed over now: a refused compile leaves the previous routes, whose hosts keep
		// their configs; a new host's config is unused until its route is published.
		c.cc.SetConfigs(ccConfs)
	}
	if c.acme.IsValid() {
		routes = append(routes[:len(routes):len(routes)], acmeRoutes(st, c.acme)...)
	}
	table, err := route.Compile(routes, c.routeOptions())
	if err != nil {
		return routeSet{}, routeCompileError(err)
	}
	for _, w := range table.Warnings() {
		c.log.Warn("route compiled with a warning", "warning", w.String())
	}
	rs.table = table
	return rs, nil
}

// routeOptions are the options of every route compile, full (compileRoutes) or not (updateRoutes).
func (c *compiler) routeOptions() route.CompileOptions {
	opts := route.CompileOptions{Registry: c.reg}
	if c.names != nil {
		opts.Names = c.names
	}
	return opts
}

// updateRoutes compiles the routes ids and the service descriptors descIDs of st (deleted when
// st no longer has them) into a table made from prev's with route.Table.With: the other routes
// keep their compiled form. With a login server, the login routes are made again from prev's
// private routes changed by the write, and the difference goes into the same With. It answers
// errFullCompile when a login route would take the id of a stored route or descriptor (the
// full compile refuses that, naming both).
func (c *compiler) updateRoutes(prev *compiled, st *state, ids, descIDs []string) (routeSet, error) {
	var put []route.Route
	var del []string
	var fields []FieldError
	for _, id := range ids {
		e, ok := st.ents[kRoutes].Get(id)
		if !ok {
			del = append(del, id)
			continue
		}
		var r route.Route
		if err := decodeStored(e.bytes(), &r); err != nil {
			fields = append(fields, FieldError{Field: "route " + e.id, Message: err.Error()})
			continue
		}
		put = append(put, r)
	}
	for _, id := range descIDs {
		e, ok := st.ents[kDescriptors].Get(id)
		if !ok {
			del = append(del, id)
			continue
		}
		r, err := descriptorRoute(e)
		if err != nil {
			fields = append(fields, FieldError{Field: "service descriptor " + r.ID, Message: err.Error()})
			continue
		}
		put = append(put, r)
	}
	if len(fields) > 0 {
		return routeSet{}, invalidConfig(fields)
	}
	rs := routeSet{private: prev.private, authRoutes: prev.authRoutes, logins: prev.logins}
	if c.login != nil {
		var err error
		if put, del, err = c.updateLogins(&rs, st, put, del); err != nil {
			return routeSet{}, err
		}
	}
	table, err := prev.routes.With(put, del, c.routeOptions())
	if err != nil {
		return routeSet{}, routeCompileError(err)
	}
	for _, id := range append(ids[:len(ids):len(ids)], descIDs...) {
		for _, w := range table.RouteWarnings(id) {
			c.log.Warn("route compiled with a warning", "warning", w.String())
		}
	}
	rs.table = table
	return rs, nil
}

// updateLogins changes rs's private routes by the routes put and deleted, makes the login
// routes of the result and returns put and del with the login routes to add and remove.
func (c *compiler) updateLogins(rs *routeSet, st *state, put []route.Route, del []string) ([]route.Route, []string, error) {
	ar := rs.authRoutes
	for _, id := range del {
		ar = ar.Delete(id)
	}
	for i := range put {
		if auth.IsLoginRouteID(put[i].ID) {
			return nil, nil, errFullCompile // a stored route with a login route's id
		}
		if auth.LoginRelevant(&put[i]) {
			ar = ar.Set(put[i].ID, put[i])
		} else {
			ar = ar.Delete(put[i].ID)
		}
	}
	if ar == rs.authRoutes {
		return put, del, nil // no route that matters to the login routes changed
	}
	private := ar.Values()
	all := auth.LoginRoutes(private, c.login.Addr())
	logins := make([]string, 0, len(all)-len(private))
	for _, r := range all[len(private):] {
		logins = append(logins, r.ID)
		if !slices.Contains(rs.logins, r.ID) {
			if st.ents[kRoutes].Has(r.ID) || st.ents[kDescriptors].Has(r.ID) {
				return nil, nil, errFullCompile
			}
			put = append(put, r)
		}
	}
	slices.Sort(logins)
	for _, id := range rs.logins {
		if _, found := slices.BinarySearch(logins, id); !found {
			del = append(del, id)
		}
	}
	rs.private, rs.authRoutes, rs.logins = private, ar, logins
	return put, del, nil
}

// clash reports whether one of the routes ids or descriptors descIDs of st has the id of a
// descriptor or a route (the full compile refuses that, naming both).
func clash(st *state, ids, descIDs []string) bool {
	for _, id := range ids {
		if st.ents[kDescriptors].Has(id) {
			return true
		}
	}
	for _, id := range descIDs {
		if st.ents[kRoutes].Has(id) {
			return true
		}
	}
	return false
}

// compileKeys decodes, validates and compiles the API keys of ents, on every core when there are
// many (loading a million keys is mostly this); errors name the key and the field, in the order of
// ents.
func (c *compiler) compileKeys(ents []*entity) ([]*apikey.Key, []FieldError) {
	keys := make([]*apikey.Key, len(ents))
	errs := make([]*FieldError, len(ents))
	one := func(rd *reader, i int) {
		e := ents[i]
		raw := rd.bytes(e)
		if raw == nil {
			errs[i] = &FieldError{Field: "apikey " + e.id, Message: errNoLongerStored.Error()}
			return
		}
		src, err := apikey.DecodeKey(raw)
		if err != nil {
			errs[i] = &FieldError{Field: "apikey " + e.id, Message: err.Error()}
			return
		}
		if keys[i], err = apikey.CompileOne(&src, c.counters); err != nil {
			field := "apikey " + src.ClientID
			if m := keyFieldRe.FindStringSubmatch(err.Error()); m != nil {
				field = m[1]
			}
			errs[i] = &FieldError{Field: field, Message: err.Error()}
		}
	}
	parallel(len(ents), func(lo, hi int) {
		rd := &reader{}
		defer rd.close()
		for i := lo; i < hi; i++ {
			one(rd, i)
		}
	})
	var fields []FieldError
	out := keys[:0]
	for i, k := range keys {
		if errs[i] != nil {
			fields = append(fields, *errs[i])
		} else {
			out = append(out, k)
		}
	}
	return out, fields
}

// parallelMin is the number of items below which parallel runs them on the calling goroutine.
const parallelMin = 1024

// parallel calls f on contiguous ranges [lo, hi) covering [0, n), on GOMAXPROCS goroutines when
// n is large; it returns when every call has.
func parallel(n int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/parallelMin)
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { f(n*w/workers, n*(w+1)/workers) })
	}
	wg.Wait()
}

// errNoLongerStored is what a compile says of a cold entity bbolt no longer has (never under the
// writer lock, where the state is bbolt's).
var errNoLongerStored = errors.New("no longer stored")

// decodeStored decodes a stored encoding (nil: no longer stored) into v.
func decodeStored(raw []byte, v any) error {
	if raw == nil {
		return errNoLongerStored
	}
	return json.Unmarshal(raw, v)
}

// invalidConfig is the 400 of a configuration that does not compile, with one field per problem.
func invalidConfig(fields []FieldError) error {
	return &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.configuration",
		Message: "the configuration would not compile", Fields: fields}
}

// compileGlobalOf compiles the global config of st.
func compileGlobalOf(st *state) (*GlobalSettings, error) {
	global, err := compileGlobal(st.globalDoc())
	if err != nil {
		return nil, &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.configuration",
			Message: "the global config would not compile: " + err.Error()}
	}
	return global, nil
}

// assemble builds the snapshot of compiled parts; the per-route policies of prev (nil: none) are
// reused when the route table is prev's.
func (c *compiler) assemble(prev *core.Snapshot, table *route.Table, set *apikey.Set, global *GlobalSettings, version uint64) (*compiled, error) {
	snap, err := core.BuildSnapshotFrom(prev, table, set, global.core(), version)
	if err != nil {
		// A route whose plugin config does not compile would refuse every request: refuse
		// the change instead.
		return nil, &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.configuration",
			Message: "the configuration would not compile: " + err.Error(), Fields: []FieldError{{Field: "plugins", Message: err.Error()}}}
	}
	return &compiled{routes: table, keys: set, global: global, version: version, snap: snap}, nil
}

// routeCompileError lists each route field error of a Compile failure.
func routeCompileError(err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var fields []FieldError
	for _, e := range errs {
		var fe *route.FieldError
		if errors.As(e, &fe) {
			fields = append(fields, FieldError{Field: fe.Field, Message: "route " + fe.RouteID + ": " + fe.Message})
			continue
		}
		fields = append(fields, FieldError{Field: "routes", Message: e.Error()})
	}
	return &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.configuration",
		Message: "the configuration would not compile; nothing was stored", Fields: fields}
}

// publish hands a compiled snapshot to the publisher, marks the server ready and drops the
// runtime state of targets that are gone.
func (s *Server) publish(c *compiled) {
	prev := s.published.Swap(c) // before Publish, so that a Publisher may call Keys for this version
	if s.opts.PrivateApps != nil {
		// Before the snapshot: the engine finds the modules its routes name.
		s.opts.PrivateApps.Update(c.auths, c.private)
	}
	if s.opts.Publisher != nil {
		s.opts.Publisher.Publish(c.snap)
	}
	if s.opts.TLS != nil && (prev == nil || prev.tls != c.tls) {
		s.opts.TLS.SetTable(c.tls)
	}
	if prev == nil || prev.tls != c.tls {
		// The certificates changed: one added within AlertBefore of its end is reported now,
		// not at the next hourly check.
		s.checkCertExpiry(s.now())
	}
	if prev == nil || prev.upcerts != c.upcerts {
		upstls.SetStore(c.upcerts)
	}
	var d *route.Delta
	if prev != nil {
		d = c.routes.DeltaFrom(prev.routes)
	}
	switch {
	case prev != nil && prev.routes == c.routes:
	case d != nil:
		// A write changed a few routes of prev's table: the states of their targets only,
		// and the names they added or dropped.
		ids := make([]string, len(d.Removed))
		for i, rt := range d.Removed {
			ids[i] = rt.ID
		}
		s.compiler.reg.PruneRoutes(c.routes, ids)
		s.names.WatchDiff(d.HostsAdded, d.HostsRemoved)
	default:
		s.compiler.reg.Prune(c.routes)
		s.names.Watch(c.routes.Hostnames())
	}
	s.lastErr.Store(nil)
	s.ready.Store(true)
	metricPublished.Inc()
}

// compileError counts a refused write and makes sure it is a 400 that says why.
func compileError(err error) error {
	metricWriteRefused.Inc()
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	return &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.configuration", Message: "the configuration would not compile: " + err.Error()}
}

// wantClientCert reports whether the route changes d (nil: unknown) may change the TLS table,
// which lists the hosts of the routes that ask for a client certificate: d is nil, or a route
// it removed or added asks for one.
func wantClientCert(d *route.Delta) bool {
	if d == nil {
		return true
	}
	for _, rts := range [2][]*route.Compiled{d.Removed, d.Added} {
		for _, c := range rts {
			if wantsClientCert(c.Route.Plugins) {
				return true
			}
		}
	}
	return false
}

// changedUse reports whether one of the entities ids of kind k in st names the plugin (its raw
// JSON holds the name): such a change needs the full compile, which adds the plugin's routes.
func changedUse(st *state, k kindID, ids []string, plugin string) bool {
	for _, id := range ids {
		if e, ok := st.ents[k].Get(id); ok && bytes.Contains(e.bytes(), []byte(plugin)) {
			return true
		}
	}
	return false
}
