package admin

import (
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
	// With a client-credentials server, ccRoutes are the routes using NgClientCredentials, by
	// ccKey (the order of the full compile's list), and ccIDs the ids of the token routes added
	// for them, sorted.
	ccRoutes pmap.Map[route.Route]
	ccIDs    []string
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
	// cc is the client-credentials endpoint, or nil.
	cc *clientcreds.Server
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
	out.ccRoutes, out.ccIDs = rs.ccRoutes, rs.ccIDs
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
// routes the write named, or all of them when it compiled every route. The client-credentials
// configs it handed over are put back.
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
	rs := routeSet{table: prev.routes, private: prev.private, authRoutes: prev.authRoutes, logins: prev.logins,
		ccRoutes: prev.ccRoutes, ccIDs: prev.ccIDs}
	full := routes && (len(routeIDs)+len(descIDs) != len(ws.changes) || clash(st, routeIDs, descIDs))
	var confs map[string]clientcreds.Config
	if c.cc != nil {
		confs = c.cc.Configs()
	}
	defer func() {
		if err != nil && c.cc != nil {
			c.cc.SetConfigs(confs) // the token endpoint's configs of the routes still published
		}
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
		// Other changes (ACME certificates) add routes too, and a route and a descriptor
		// with one id are refused with a message that names both: keep to the full compile.
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
	out.ccRoutes, out.ccIDs = rs.ccRoutes, rs.ccIDs
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
	ccRoutes   pmap.Map[route.Route] // compiled.ccRoutes
	ccIDs      []string              // compiled.ccIDs
}

// ccKey orders the routes using NgClientCredentials as the full compile lists them: the
// routes by id, then the descriptors by id (the first route naming a host gives its config).
func ccKey(descriptor bool, id string) string {
	if descriptor {
		return "1" + id
	}
	return "0" + id
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
	stored := len(routes) // the routes, then the descriptors; what is added comes after
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
	if c.cc != nil {
		for i := range routes[:stored] {
			if clientcreds.Uses(&routes[i]) {
				rs.ccRoutes = rs.ccRoutes.Set(ccKey(i >= len(ents), routes[i].ID), routes[i])
			}
		}
		n := len(routes)
		var err error
		if routes, err = c.tokenRoutes(routes); err != nil {
			return routeSet{}, err
		}
		for _, r := range routes[n:] {
			rs.ccIDs = append(rs.ccIDs, r.ID)
		}
		slices.Sort(rs.ccIDs)
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
	var putKeys, delKeys []string // ccKey of put and del
	var fields []FieldError
	for _, id := range ids {
		e, ok := st.ents[kRoutes].Get(id)
		if !ok {
			del, delKeys = append(del, id), append(delKeys, ccKey(false, id))
			continue
		}
		var r route.Route
		if err := decodeStored(e.bytes(), &r); err != nil {
			fields = append(fields, FieldError{Field: "route " + e.id, Message: err.Error()})
			continue
		}
		put, putKeys = append(put, r), append(putKeys, ccKey(false, id))
	}
	for _, id := range descIDs {
		e, ok := st.ents[kDescriptors].Get(id)
		if !ok {
			del, delKeys = append(del, id), append(delKeys, ccKey(true, id))
			continue
		}
		r, err := descriptorRoute(e)
		if err != nil {
			fields = append(fields, FieldError{Field: "service descriptor " + r.ID, Message: err.Error()})
			continue
		}
		put, putKeys = append(put, r), append(putKeys, ccKey(true, id))
	}
	if len(fields) > 0 {
		return routeSet{}, invalidConfig(fields)
	}
	rs := routeSet{private: prev.private, authRoutes: prev.authRoutes, logins: prev.logins,
		ccRoutes: prev.ccRoutes, ccIDs: prev.ccIDs}
	if c.cc != nil {
		var err error
		if put, del, err = c.updateTokenRoutes(&rs, st, put, putKeys, del, delKeys); err != nil {
			return routeSet{}, err
		}
	}
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
	ar, err := relevantOf(rs.authRoutes, put, nil, del, auth.IsLoginRouteID, auth.LoginRelevant)
	if err != nil {
		return nil, nil, err
	}
	if ar == rs.authRoutes {
		return put, del, nil // no route that matters to the login routes changed
	}
	private := ar.Values()
	all := auth.LoginRoutes(private, c.login.Addr())
	logins, put, del, err := addedDiff(st, all[len(private):], rs.logins, put, del)
	if err != nil {
		return nil, nil, err
	}
	rs.private, rs.authRoutes, rs.logins = private, ar, logins
	return put, del, nil
}

// relevantOf changes m, the routes an added kind of route (login, token) depends on, by the
// routes put (under keys, or their ids when keys is nil) and the keys del: a route is kept
// when relevant holds for it. A put with the id of an added route answers errFullCompile
// (the full compile refuses that stored route as a duplicate).
func relevantOf(m pmap.Map[route.Route], put []route.Route, keys, del []string, added func(id string) bool, relevant func(*route.Route) bool) (pmap.Map[route.Route], error) {
	for _, k := range del {
		m = m.Delete(k)
	}
	for i := range put {
		if added(put[i].ID) {
			return m, errFullCompile
		}
		k := put[i].ID
		if keys != nil {
			k = keys[i]
		}
		if relevant(&put[i]) {
			m = m.Set(k, put[i])
		} else {
			m = m.Delete(k)
		}
	}
	return m, nil
}

// addedDiff compares the routes a compile adds (login or token routes) with the ids of those
// it added before (sorted): it returns the new ids, sorted, and put and del with the routes to
// add and the ids to remove. An added route that would take the id of a stored route or
// descriptor answers errFullCompile (the full compile refuses it, naming both).
func addedDiff(st *state, added []route.Route, before []string, put []route.Route, del []string) ([]string, []route.Route, []string, error) {
	ids := make([]string, 0, len(added))
	for _, r := range added {
		ids = append(ids, r.ID)
		if !slices.Contains(before, r.ID) {
			if st.ents[kRoutes].Has(r.ID) || st.ents[kDescriptors].Has(r.ID) {
				return nil, nil, nil, errFullCompile
			}
			put = append(put, r)
		}
	}
	slices.Sort(ids)
	for _, id := range before {
		if _, found := slices.BinarySearch(ids, id); !found {
			del = append(del, id)
		}
	}
	return ids, put, del, nil
}

// tokenRoutes adds to routes the token routes of those using NgClientCredentials and hands
// their configs to the client-credentials server.
func (c *compiler) tokenRoutes(routes []route.Route) ([]route.Route, error) {
	routes, confs, err := clientcreds.Routes(routes, c.cc.Addr())
	if err != nil {
		return nil, &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.configuration",
			Message: "the configuration would not compile: " + err.Error(), Fields: []FieldError{{Field: "plugins", Message: err.Error()}}}
	}
	// Handed over now: a refused compile leaves the previous routes, whose hosts keep their
	// configs; a new host's config is unused until its route is published.
	c.cc.SetConfigs(confs)
	return routes, nil
}

// updateTokenRoutes is updateLogins for the token routes of NgClientCredentials: it changes
// rs's routes using the plugin by the routes put (ccKey putKeys) and deleted (delKeys), makes
// their token routes and returns put and del with the token routes to add and remove.
func (c *compiler) updateTokenRoutes(rs *routeSet, st *state, put []route.Route, putKeys []string, del, delKeys []string) ([]route.Route, []string, error) {
	cr, err := relevantOf(rs.ccRoutes, put, putKeys, delKeys, clientcreds.IsTokenRouteID, clientcreds.Uses)
	if err != nil {
		return nil, nil, err
	}
	if cr == rs.ccRoutes {
		return put, del, nil // no route using the plugin changed
	}
	using := cr.Values()
	all, err := c.tokenRoutes(using)
	if err != nil {
		return nil, nil, err
	}
	ids, put, del, err := addedDiff(st, all[len(using):], rs.ccIDs, put, del)
	if err != nil {
		return nil, nil, err
	}
	rs.ccRoutes, rs.ccIDs = cr, ids
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
		if keys[i], err = apikey.CompileOne(&src); err != nil {
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

// decodeStored decodes a stored encoding (nil: no longer stored) into r. It calls the route's
// own decoder directly: json.Unmarshal would first validate the whole encoding and scan it again
// to find its end, and the route's decoder validates it anyway (the same errors).
func decodeStored(raw []byte, r *route.Route) error {
	if raw == nil {
		return errNoLongerStored
	}
	return r.UnmarshalJSON(raw)
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
