package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/testkit"
)

// TestRouteTargets proxies through a real engine to a route with a live and a dead target:
// the dead one's circuit opens, and GET /api/routes/{id}/targets says so.
func TestRouteTargets(t *testing.T) {
	engine := startEngine(t)
	live, dead := startBackend(t, "A"), int(netip.MustParseAddrPort(testkit.RefusedAddr(t)).Port())
	e := newEnv(t, func(o *Options) { o.Publisher = engine })
	body := routeBody("route_t", "load.test", live)
	body["backend"] = map[string]any{"targets": []any{
		map[string]any{"id": "live", "hostname": "127.0.0.1", "port": live},
		map[string]any{"id": "dead", "hostname": "127.0.0.1", "port": dead, "weight": 2},
	}}
	body["client"] = map[string]any{"retries": 2, "max_errors": 2, "sample_interval": 60000}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: body})

	e.must(http.StatusNotFound, req{method: "GET", path: "/api/routes/route_missing/targets"})
	if r := e.do(req{method: "GET", path: "/api/routes/route_t/targets", noAuth: true}); r.status != http.StatusUnauthorized {
		t.Fatalf("without credentials: status %d, want 401", r.status)
	}

	byID := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, v := range e.must(http.StatusOK, req{method: "GET", path: "/api/routes/route_t/targets"}).list(t) {
			m := v.(map[string]any)
			out[m["id"].(string)] = m
		}
		return out
	}
	before := byID()
	if len(before) != 2 {
		t.Fatalf("targets: %v", before)
	}
	d := before["dead"]
	if d["hostname"] != "127.0.0.1" || num(t, d["port"]) != float64(dead) || d["address"] != "127.0.0.1:"+strconv.Itoa(dead) ||
		num(t, d["weight"]) != 2 || d["backup"] != false || d["healthy"] != true || d["circuit"] != "closed" {
		t.Fatalf("dead target before traffic: %#v", d)
	}
	for _, k := range []string{"inFlight", "latencyMs"} {
		if num(t, d[k]) != 0 {
			t.Fatalf("%s before any traffic: %v", k, d)
		}
	}

	probe := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	var now map[string]map[string]any
	for i := 0; ; i++ {
		if got, err := proxyGet(probe, engine.Addr().String()); err != nil || got != "A" {
			t.Fatalf("request %d: %q, %v (retries should reach the live target)", i, got, err)
		}
		now = byID()
		if now["dead"]["circuit"] == "open" || time.Now().After(deadline) || i > 200 {
			break
		}
	}
	if now["dead"]["circuit"] != "open" || now["live"]["circuit"] != "closed" {
		t.Fatalf("after failing calls: dead %v, live %v", now["dead"], now["live"])
	}
	if now["live"]["healthy"] != true || num(t, now["live"]["latencyMs"]) <= 0 {
		t.Fatalf("live target: %v", now["live"])
	}

	// With an active health check, run by a checker on the admin's registry as the binary does,
	// the dead target is reported unhealthy and the live one healthy.
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/routes/route_t",
		body: `{"backend":{"health_check":{"enabled":true,"url":"/health","timeout":1000}}}`})
	hc := route.NewHealthChecker(e.s.compiler.reg, route.HealthOptions{})
	hc.Update(e.s.published.Load().routes)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hc.CheckNow(ctx)
	now = byID()
	if now["dead"]["healthy"] != false || now["live"]["healthy"] != true {
		t.Fatalf("after a health check round: dead %v, live %v", now["dead"], now["live"])
	}
}

// num reads a JSON number decoded by jsonx.Decode.
func num(t *testing.T, v any) float64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%#v is not a JSON number", v)
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}
