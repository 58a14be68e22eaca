package admin

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core/quota"
)

// TestPublishCarriesKeysGlobalAndPolicies checks that the published snapshot holds the compiled
// keys (counted on Options.Quotas), the global settings, and that a route whose plugin config
// would not compile is refused instead of published.
func TestPublishCarriesKeysGlobalAndPolicies(t *testing.T) {
	counters := quota.New(quota.Options{})
	e := newEnv(t, func(o *Options) { o.Quotas = counters })
	r := routeBody("route_k", "k.example.com", 3001)
	r["plugins"] = []any{map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.ApikeyCalls", "config": map[string]any{}}}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: r})
	e.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: map[string]any{
		"clientId": "key_k", "clientSecret": "secret-k-0123456789", "clientName": "k", "authorizedEntities": []string{"route_route_k"}}})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: map[string]any{
		"maintenanceMode": true, "ipFiltering": map[string]any{"blacklist": []string{"10.0.0.0/8"}},
		"throttlingQuota": 50, "perIpThrottlingQuota": 5}})

	snap := e.pub.last()
	if snap.Keys == nil || snap.Keys.Get("key_k") == nil {
		t.Fatalf("published snapshot lacks the key: %+v", snap)
	}
	if snap.Global == nil || !snap.Global.MaintenanceMode || len(snap.Global.IPBlock) != 1 || snap.Global.IPBlock[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Fatalf("published global: %+v", snap.Global)
	}
	if snap.Global.ThrottlingQuota != 50 || snap.Global.PerIPThrottlingQuota != 5 {
		t.Fatalf("global throttling not published: %+v", snap.Global)
	}
	if snap.Version != e.s.version {
		t.Fatalf("version %d, server at %d", snap.Version, e.s.version)
	}

	before := e.pub.count()
	bad := routeBody("route_bad", "bad.example.com", 3001)
	bad["plugins"] = []any{map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.ApikeyCalls",
		"config": map[string]any{"mandatory": "yes"}}}
	res := e.must(http.StatusBadRequest, req{method: "POST", path: "/api/routes", body: bad})
	if !strings.Contains(string(res.body), "route_bad") || e.pub.count() != before {
		t.Fatalf("a broken plugin config was not refused cleanly: %s (%d publishes)", res.body, e.pub.count()-before)
	}
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/routes/route_bad"})
}
