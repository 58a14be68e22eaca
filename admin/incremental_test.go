package admin

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/clientcreds"
	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
)

// TestIncrementalMatchesFullCompile is the property test of incremental publish: after each
// write of a random sequence of route and API key creates, updates and deletes (and global config
// and group changes) through the admin API, the published snapshot's keys, routes and global
// config equal those of a full recompile of the stored state. What a route write updates by
// its delta (route.Table.DeltaFrom) is checked against the full state too: the snapshot's
// per-route policies and route metrics by Index (core.Snapshot.Consistent), the exported route
// metrics, the registry's target states and the TLS table's client-certificate hosts. Routes
// share hosts, get disabled, carry an API key policy or ask for a client certificate.
func TestIncrementalMatchesFullCompile(t *testing.T) {
	counters := quota.New(quota.Options{})
	set := metric.NewSet(2)
	srv, err := core.NewServer(core.Config{Listen: "127.0.0.1:0", Loops: 2, Metrics: set, Quotas: counters,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// A login server (never dialed): routes behind AuthModule get login routes.
	login := auth.NewServer(auth.Options{Sessions: privateapp.New(nil), Addr: netip.MustParseAddrPort("127.0.0.1:1")})
	// A client-credentials server: routes with NgClientCredentials get token routes.
	cc, err := clientcreds.New(func() *apikey.Set { return nil }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	e := newEnv(t, func(o *Options) {
		o.Quotas, o.Publisher, o.PrivateApps, o.ClientCredentials = counters, srv, login, cc
	})
	e.must(http.StatusCreated, req{method: "POST", path: "/api/auths", body: map[string]any{"type": "basic", "id": "auth_mod_1", "name": "users"}})
	rng := rand.New(rand.NewPCG(7, 8))
	taker := false // a route takes the login prefix of host shared0
	// rbody is a route whose host, plugins and state are drawn at random.
	rbody := func(id string, step int) map[string]any {
		domain := fmt.Sprintf("%s-%d.example.com", id, step)
		if rng.IntN(3) == 0 { // a host other routes have too
			domain = fmt.Sprintf("shared%d.example.com/%s", rng.IntN(2), id)
		}
		r := routeBody(id, domain, 3000+step)
		var plugins []any
		if rng.IntN(3) == 0 {
			plugins = append(plugins, map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.ApikeyCalls", "config": map[string]any{}})
		}
		if rng.IntN(4) == 0 {
			plugins = append(plugins, map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.NgHasClientCertValidator", "config": map[string]any{}})
		}
		if rng.IntN(5) == 0 { // a token endpoint on the route's hosts; the first route of a host gives its config
			plugins = append(plugins, map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.NgClientCredentials",
				"config": map[string]any{"expiration": 1000 * (1 + rng.IntN(3))}})
		}
		if rng.IntN(4) == 0 { // a private app: its host gets a login route
			plugins = append(plugins, map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.AuthModule", "config": map[string]any{"auth_module": "auth_mod_1"}})
		}
		if plugins != nil {
			r["plugins"] = plugins
		}
		if rng.IntN(6) == 0 {
			r["enabled"] = false
		}
		return r
	}
	routes, keys, descs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	pick := func(m map[string]bool) string {
		n := rng.IntN(len(m))
		for id := range m {
			if n == 0 {
				return id
			}
			n--
		}
		return ""
	}
	key := func(id string, gen int) map[string]any {
		ents := []string{"group_default"}
		if len(routes) > 0 && rng.IntN(2) == 0 {
			ents = append(ents, "route_"+pick(routes))
		}
		return map[string]any{"clientId": id, "clientSecret": fmt.Sprintf("secret-%s-%d-0123456789", id, gen),
			"clientName": fmt.Sprintf("%s gen %d", id, gen), "authorizedEntities": ents,
			"enabled": rng.IntN(5) != 0, "throttlingQuota": 10 + rng.IntN(100), "tags": []string{fmt.Sprint("t", gen)}}
	}
	for step := range 250 {
		switch op := rng.IntN(14); {
		case op == 13:
			// A route of the user on the login prefix of a shared host: no login route is
			// added there while it exists.
			if taker {
				e.must(http.StatusOK, req{method: "DELETE", path: "/api/routes/taker"})
			} else {
				e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("taker", "shared0.example.com"+strings.TrimSuffix(auth.Prefix, "/"), 3999)})
			}
			taker = !taker
		case op >= 10 && (op == 10 || len(descs) == 0):
			// A legacy service descriptor, created or updated: it compiles into a route.
			if len(descs) > 0 && rng.IntN(2) == 0 {
				id := pick(descs)
				e.must(http.StatusOK, req{method: "PUT", path: "/api/services/" + id, body: descBody(id, step)})
				break
			}
			id := fmt.Sprintf("d%d", step)
			e.must(http.StatusCreated, req{method: "POST", path: "/api/services", body: descBody(id, step)})
			descs[id] = true
		case op == 11:
			id := pick(descs)
			e.must(http.StatusOK, req{method: "DELETE", path: "/api/services/" + id})
			delete(descs, id)
		case op == 12:
			// A route with a descriptor's id, or the other way round, or with a broken plugin
			// config, is refused, and nothing changes.
			if rng.IntN(3) == 0 {
				// A route whose plugin config does not compile: its target states, made while
				// compiling, are dropped with the write.
				bad := rbody(fmt.Sprintf("bad%d", step), step)
				bad["plugins"] = []any{map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.ApikeyCalls",
					"config": map[string]any{"mandatory": "yes"}}}
				bad["enabled"] = true
				e.must(http.StatusBadRequest, req{method: "POST", path: "/api/routes", body: bad})
				break
			}
			if len(routes) > 0 && rng.IntN(2) == 0 {
				e.must(http.StatusBadRequest, req{method: "POST", path: "/api/services", body: descBody(pick(routes), step)})
			} else {
				id := pick(descs)
				e.must(http.StatusBadRequest, req{method: "POST", path: "/api/routes", body: rbody(id, step)})
			}
		case op < 2 || len(routes) == 0:
			id := fmt.Sprintf("r%d", step)
			e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: rbody(id, step)})
			routes[id] = true
		case op == 2:
			id := pick(routes)
			e.must(http.StatusOK, req{method: "PUT", path: "/api/routes/" + id, body: rbody(id, step)})
		case op == 3 && len(routes) > 1:
			id := pick(routes)
			e.must(http.StatusOK, req{method: "DELETE", path: "/api/routes/" + id})
			delete(routes, id)
		case op < 7 || len(keys) == 0:
			id := fmt.Sprintf("k%d", step)
			e.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: key(id, step)})
			keys[id] = true
		case op == 7:
			id := pick(keys)
			e.must(http.StatusOK, req{method: "PUT", path: "/api/apikeys/" + id, body: key(id, step)})
		case op == 8:
			id := pick(keys)
			e.must(http.StatusOK, req{method: "DELETE", path: "/api/apikeys/" + id})
			delete(keys, id)
		default:
			e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: map[string]any{"throttlingQuota": 100 + step}})
		}
		got := e.s.published.Load()
		gotConfs := cc.Configs()
		want, err := e.s.compiler.compile(e.s.cur.Load(), got.version)
		if err != nil {
			t.Fatalf("step %d: full compile: %v", step, err)
		}
		if got.keys.Len() != want.keys.Len() || got.keys.Len() != len(keys) {
			t.Fatalf("step %d: %d keys published, %d recompiled, %d stored", step, got.keys.Len(), want.keys.Len(), len(keys))
		}
		for k := range want.keys.All() {
			if g := got.keys.Get(k.ClientID); g == nil || !reflect.DeepEqual(g, k) {
				t.Fatalf("step %d: key %s published as %+v, recompiled as %+v", step, k.ClientID, g, k)
			}
		}
		if !reflect.DeepEqual(routeEntities(got.routes), routeEntities(want.routes)) || len(got.routes.Routes()) != len(want.routes.Routes()) {
			t.Fatalf("step %d: published routes differ from a recompile", step)
		}
		for _, r := range want.routes.Routes() {
			// Indexes are slots kept across writes (route.Table.With), not positions: compare ids.
			if g := got.routes.Route(r.ID); g == nil || got.routes.RouteAt(g.Index) != g || g.Upstreams()[0].Addr != r.Upstreams()[0].Addr {
				t.Fatalf("step %d: route %s is %v, recompiled %v", step, r.ID, g, r)
			}
		}
		if !reflect.DeepEqual(got.global, want.global) || !reflect.DeepEqual(got.snap.Global, want.snap.Global) {
			t.Fatalf("step %d: global %+v, recompiled %+v", step, got.global, want.global)
		}
		checkDelta(t, step, e, srv, set, got, want)
		if wantConfs := cc.Configs(); !reflect.DeepEqual(gotConfs, wantConfs) || !slices.Equal(got.ccIDs, want.ccIDs) {
			t.Fatalf("step %d: client credentials configs %v and token routes %v, recompiled %v and %v", step, gotConfs, got.ccIDs, wantConfs, want.ccIDs)
		}
	}
}

// descBody is a service descriptor (Otoroshi's legacy entity) on its own host.
func descBody(id string, step int) map[string]any {
	return map[string]any{"id": id, "name": id, "env": "prod", "domain": "example.com", "subdomain": fmt.Sprintf("%s-%d", id, step),
		"enabled": true, "groups": []string{"default"}, "root": "/", "matchingRoot": nil, "stripPath": true,
		"targets": []any{map[string]any{"host": fmt.Sprintf("127.0.0.1:%d", 5000+step), "scheme": "http", "weight": 1}}}
}

// checkDelta checks what a write updates by its route delta against the full state: the
// published snapshot's per-route state, the exported route metrics, the registry's target
// states and the client-certificate hosts of the TLS table.
func checkDelta(t *testing.T, step int, e *env, srv *core.Server, set *metric.Set, got, want *compiled) {
	t.Helper()
	snap := srv.Snapshot()
	if snap != got.snap {
		t.Fatalf("step %d: the proxy's snapshot is not the published one", step)
	}
	if err := snap.Consistent(); err != nil {
		t.Fatalf("step %d: %v", step, err)
	}
	wantIDs := []string{metric.NoRouteID}
	var keys []string
	for _, rt := range want.routes.Routes() {
		wantIDs = append(wantIDs, rt.ID)
		for _, u := range rt.Upstreams() {
			keys = append(keys, u.Key)
		}
	}
	slices.Sort(wantIDs)
	var exported []string
	for _, m := range set.Routes() {
		exported = append(exported, m.ID())
	}
	if !slices.Equal(exported, wantIDs) {
		t.Fatalf("step %d: route metrics exported for %v, want %v", step, exported, wantIDs)
	}
	reg := e.s.compiler.reg
	for _, k := range keys {
		if reg.Lookup(k) == nil {
			t.Fatalf("step %d: no registry state for target %s", step, k)
		}
	}
	if reg.Len() != len(keys) {
		t.Fatalf("step %d: %d registry states, want the %d targets of the routes", step, reg.Len(), len(keys))
	}
	hosts := func(c *compiled) []string {
		h := slices.Clone(c.tls.Options().ClientAuthHosts)
		slices.Sort(h)
		return h
	}
	if g, w := hosts(got), hosts(want); !slices.Equal(g, w) {
		t.Fatalf("step %d: client certificate hosts %v, recompiled %v", step, g, w)
	}
	ids := func(rs []route.Route) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		slices.Sort(out)
		return out
	}
	if g, w := ids(got.private), ids(want.private); !slices.Equal(g, w) || !slices.Equal(got.logins, want.logins) {
		t.Fatalf("step %d: private routes %v and login routes %v, recompiled %v and %v", step, g, got.logins, w, want.logins)
	}
}

// routeEntities returns the route entities t was compiled from (enabled ones).
func routeEntities(t *route.Table) []route.Route {
	var out []route.Route
	for _, c := range t.Routes() {
		out = append(out, *c.Route)
	}
	slices.SortFunc(out, func(a, b route.Route) int { return strings.Compare(a.ID, b.ID) })
	return out
}
