package admin

import (
	"net/http"
	"strings"
	"testing"
)

// TestAdminKeysFromOtoroshiExport: after importing an Otoroshi export, its admin API key is refused
// by default and the report says so; once the global config names its group, a script using that
// key (Otoroshi-Client-Id/Secret, with Otoroshi's admin host name) can call the admin API.
func TestAdminKeysFromOtoroshiExport(t *testing.T) {
	e := newEnv(t, nil)
	rep := importReport(t, e.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: readTestdata(t, "export-tunnel-demo.json")}))
	found := false
	for _, w := range rep.Warnings {
		found = found || (w.Entity == "apiKeys/admin-api-apikey-id" && strings.Contains(w.Message, "adminApiKeysGroup"))
	}
	if !found {
		t.Fatalf("the report does not name the admin API key: %+v", rep.Warnings)
	}
	k := e.must(http.StatusOK, req{method: "GET", path: "/api/apikeys/admin-api-apikey-id"}).obj(t)
	script := func(method, path, host string) req {
		h := map[string]string{"Otoroshi-Client-Id": "admin-api-apikey-id", "Otoroshi-Client-Secret": k["clientSecret"].(string)}
		if host != "" {
			h["Host"] = host
		}
		return req{method: method, path: path, noAuth: true, header: h}
	}
	e.must(http.StatusUnauthorized, script("GET", "/api/routes", ""))
	e.must(http.StatusForbidden, script("GET", "/api/routes", "otoroshi-api.oto.tools"))

	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `{"adminApiKeysGroup":"admin-api-group"}`})
	e.must(http.StatusOK, script("GET", "/api/routes", ""))
	e.must(http.StatusOK, script("GET", "/apis/proxy.otoroshi.io/v1/routes", "otoroshi-api.oto.tools"))
	e.must(http.StatusForbidden, script("GET", "/api/routes", "evil.example"))
	// A key of another group stays refused.
	other := e.must(http.StatusOK, req{method: "GET", path: "/api/apikeys"}).list(t)
	for _, o := range other {
		m := o.(map[string]any)
		if m["clientId"] == "admin-api-apikey-id" {
			continue
		}
		r := e.do(req{method: "GET", path: "/api/routes", noAuth: true,
			header: map[string]string{"Otoroshi-Client-Id": m["clientId"].(string), "Otoroshi-Client-Secret": m["clientSecret"].(string)}})
		if r.status != http.StatusUnauthorized {
			t.Errorf("key %v of another group: status %d", m["clientId"], r.status)
		}
	}
}

// TestScopedKeysIncludeGroupKeys: GET /api/routes/{id}/apikeys lists the keys authorized on the
// route itself and those authorized through one of its groups, 2018-style keys included (their
// authorizedGroup is normalised into authorizedEntities).
func TestScopedKeysIncludeGroupKeys(t *testing.T) {
	e := newEnv(t, nil)
	e.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: `{
		"serviceGroups":[{"id":"billing","name":"billing"},{"id":"other","name":"other"}],
		"routes":[{"id":"route_inv","groups":["billing"],"frontend":{"domains":["inv.example.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":3001}]}}],
		"apiKeys":[
			{"clientId":"direct000000001","clientSecret":"s1","clientName":"direct","authorizedEntities":["route_route_inv"]},
			{"clientId":"bygroup00000001","clientSecret":"s2","clientName":"group","authorizedEntities":["group_billing"]},
			{"clientId":"legacy000000001","clientSecret":"s3","clientName":"2018","authorizedGroup":"billing"},
			{"clientId":"elsewhere000001","clientSecret":"s4","clientName":"other","authorizedEntities":["group_other"]}]}`})
	var ids []string
	for _, k := range e.must(http.StatusOK, req{method: "GET", path: "/api/routes/route_inv/apikeys"}).list(t) {
		ids = append(ids, k.(map[string]any)["clientId"].(string))
	}
	if got := strings.Join(ids, " "); got != "bygroup00000001 direct000000001 legacy000000001" {
		t.Fatalf("keys of route_inv: %s", got)
	}
	legacy := e.must(http.StatusOK, req{method: "GET", path: "/api/apikeys/legacy000000001"}).obj(t)
	if ents, _ := legacy["authorizedEntities"].([]any); len(ents) != 1 || ents[0] != "group_billing" || legacy["authorizedGroup"] != "billing" {
		t.Fatalf("2018 key not normalised: %v", legacy)
	}
}
