package admin

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func routeBody(id, domain string, port int) map[string]any {
	r := map[string]any{
		"name":     "r " + domain,
		"frontend": map[string]any{"domains": []string{domain}},
		"backend":  map[string]any{"targets": []any{map[string]any{"id": "t1", "hostname": "127.0.0.1", "port": port}}},
	}
	if id != "" {
		r["id"] = id
	}
	return r
}

func TestRoutesCRUD(t *testing.T) {
	e := newEnv(t, nil)
	pubs := e.pub.count()

	body := routeBody("", "api.example.com/users", 3001)
	body["x_unknown"] = map[string]any{"kept": []int{1, 2}}
	cr := e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: body})
	doc := cr.obj(t)
	id, _ := doc["id"].(string)
	if !regexp.MustCompile(`^route_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("generated id %q is not route_<uuid>", id)
	}
	if cr.header.Get("Location") != "/api/routes/"+id || cr.header.Get("ETag") == "" {
		t.Fatalf("Location %q, ETag %q", cr.header.Get("Location"), cr.header.Get("ETag"))
	}
	if doc["enabled"] != true || fmt.Sprint(doc["groups"]) != "[default]" {
		t.Fatalf("defaults not filled: %s", cr.body)
	}
	if e.pub.count() != pubs+1 || e.pub.last().Routes.Route(id) == nil {
		t.Fatalf("the create was not published with the route")
	}

	g := e.must(http.StatusOK, req{method: "GET", path: "/api/routes/" + id})
	if g.header.Get("ETag") != cr.header.Get("ETag") || string(g.body) != string(cr.body) {
		t.Fatalf("GET differs from the created entity")
	}
	e.must(http.StatusNotModified, req{method: "GET", path: "/api/routes/" + id, header: map[string]string{"If-None-Match": g.header.Get("ETag")}})
	e.must(http.StatusOK, req{method: "GET", path: "/api/routes/" + id, header: map[string]string{"If-None-Match": `"other"`}})
	if !strings.Contains(string(g.body), `"x_unknown":{"kept":[1,2]}`) {
		t.Fatalf("unknown field lost: %s", g.body)
	}

	// A second route for list, filter and paging.
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_b", "b.example.com", 3002)})
	if n := len(e.must(http.StatusOK, req{method: "GET", path: "/api/routes"}).list(t)); n != 2 {
		t.Fatalf("list has %d routes, want 2", n)
	}
	l := e.must(http.StatusOK, req{method: "GET", path: "/api/routes?filter.name=r+b.example.com"}).list(t)
	if len(l) != 1 || l[0].(map[string]any)["id"] != "route_b" {
		t.Fatalf("filter: %v", l)
	}
	if l := e.must(http.StatusOK, req{method: "GET", path: "/api/routes?filter.groups=default&filter.enabled=true"}).list(t); len(l) != 2 {
		t.Fatalf("array and bool filters: %d", len(l))
	}
	p2 := e.must(http.StatusOK, req{method: "GET", path: "/api/routes?page=2&pageSize=1"})
	if l := p2.list(t); len(l) != 1 || p2.header.Get("X-Count") != "2" {
		t.Fatalf("page 2: %v, X-Count %q", l, p2.header.Get("X-Count"))
	}
	if l := e.must(http.StatusOK, req{method: "GET", path: "/api/routes?page=3&pageSize=1"}).list(t); len(l) != 0 {
		t.Fatalf("page past the end: %v", l)
	}
	e.must(http.StatusBadRequest, req{method: "GET", path: "/api/routes?page=0"})

	// PUT with a stale If-Match, then the right one.
	put := routeBody(id, "api.example.com/people", 3001)
	e.must(http.StatusPreconditionFailed, req{method: "PUT", path: "/api/routes/" + id, body: put, header: map[string]string{"If-Match": `"stale"`}})
	pr := e.must(http.StatusOK, req{method: "PUT", path: "/api/routes/" + id, body: put, header: map[string]string{"If-Match": cr.header.Get("ETag")}})
	if pr.header.Get("ETag") == cr.header.Get("ETag") || strings.Contains(string(pr.body), "x_unknown") {
		t.Fatalf("PUT must replace the whole entity: %s", pr.body)
	}
	e.must(http.StatusBadRequest, req{method: "PUT", path: "/api/routes/" + id, body: routeBody("route_other", "x.example.com", 1)})
	e.must(http.StatusNotFound, req{method: "PUT", path: "/api/routes/route_missing", body: routeBody("", "x.example.com", 1)})

	// PATCH is a merge patch: null deletes, objects merge, unknown fields stay.
	pa := e.must(http.StatusOK, req{method: "PATCH", path: "/api/routes/" + id,
		body:   `{"description":"patched","metadata":{"a":"1"},"name":null,"x_new":true}`,
		header: map[string]string{"If-Match": pr.header.Get("ETag")}})
	pd := pa.obj(t)
	if pd["description"] != "patched" || pd["metadata"].(map[string]any)["a"] != "1" || pd["x_new"] != true {
		t.Fatalf("patch not applied: %s", pa.body)
	}
	if pd["name"] != "" { // deleted, then back to its default
		t.Fatalf("null did not delete name: %s", pa.body)
	}
	if pd["frontend"].(map[string]any)["domains"].([]any)[0] != "api.example.com/people" {
		t.Fatalf("patch lost untouched fields: %s", pa.body)
	}
	e.must(http.StatusBadRequest, req{method: "PATCH", path: "/api/routes/" + id, body: `{"id":"route_renamed"}`})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/routes/" + id, body: `{"tags":["x"]}`,
		header: map[string]string{"Content-Type": "application/merge-patch+json"}})

	tpl := e.must(http.StatusOK, req{method: "GET", path: "/api/routes/_template"}).obj(t)
	if !strings.HasPrefix(tpl["id"].(string), "route_") {
		t.Fatalf("template id %v", tpl["id"])
	}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: tpl})

	e.must(http.StatusPreconditionFailed, req{method: "DELETE", path: "/api/routes/" + id, header: map[string]string{"If-Match": `"nope"`}})
	d := e.must(http.StatusOK, req{method: "DELETE", path: "/api/routes/" + id})
	if d.obj(t)["deleted"] != true {
		t.Fatalf("delete body %s", d.body)
	}
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/routes/" + id})
	e.must(http.StatusNotFound, req{method: "DELETE", path: "/api/routes/" + id})
	if e.pub.last().Routes.Route(id) != nil {
		t.Fatalf("deleted route still published")
	}
}

func TestGroupsAndKeysCRUD(t *testing.T) {
	e := newEnv(t, nil)
	e.must(http.StatusCreated, req{method: "POST", path: "/api/groups", body: map[string]any{"id": "billing", "name": "Billing"}})
	e.must(http.StatusConflict, req{method: "POST", path: "/api/groups", body: map[string]any{"id": "billing", "name": "Again"}})
	g := e.must(http.StatusCreated, req{method: "POST", path: "/api/groups", body: map[string]any{"name": "generated"}}).obj(t)
	if !strings.HasPrefix(g["id"].(string), "group_") {
		t.Fatalf("group id %v", g["id"])
	}
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/groups/billing", body: `{"description":"money"}`})
	e.must(http.StatusOK, req{method: "GET", path: "/api/groups/_template"})

	k := e.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: map[string]any{"clientName": "app", "authorizedEntities": []string{"group_billing"}}}).obj(t)
	cid, secret := k["clientId"].(string), k["clientSecret"].(string)
	if !regexp.MustCompile(`^[a-z0-9]{16}$`).MatchString(cid) || !regexp.MustCompile(`^[A-Za-z0-9]{64}$`).MatchString(secret) {
		t.Fatalf("generated clientId %q / secret of %d chars", cid, len(secret))
	}
	if k["throttlingQuota"].(interface{ String() string }).String() != "10000000" {
		t.Fatalf("default quota: %v", k["throttlingQuota"])
	}
	if e.s.published.Load().keys.Get(cid) == nil {
		t.Fatalf("key not published")
	}
	e.must(http.StatusConflict, req{method: "POST", path: "/api/apikeys", body: map[string]any{"clientId": cid, "clientName": "dup"}})
	tpl := e.must(http.StatusOK, req{method: "GET", path: "/api/apikeys/_template"}).obj(t)
	if len(tpl["clientId"].(string)) != 16 || len(tpl["clientSecret"].(string)) != 64 {
		t.Fatalf("template key %v", tpl)
	}

	// Scoped by group.
	e.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: map[string]any{"clientId": "otherkey00000001", "clientName": "other"}})
	if l := e.must(http.StatusOK, req{method: "GET", path: "/api/groups/billing/apikeys"}).list(t); len(l) != 1 || l[0].(map[string]any)["clientId"] != cid {
		t.Fatalf("group-scoped list: %v", l)
	}
	sc := e.must(http.StatusCreated, req{method: "POST", path: "/api/groups/billing/apikeys", body: map[string]any{"clientName": "scoped"}}).obj(t)
	if fmt.Sprint(sc["authorizedEntities"]) != "[group_billing]" {
		t.Fatalf("scoped create did not authorize the group: %v", sc["authorizedEntities"])
	}
	e.must(http.StatusOK, req{method: "GET", path: "/api/groups/billing/apikeys/" + cid})
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/groups/billing/apikeys/otherkey00000001"})
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/groups/nope/apikeys"})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/groups/billing/apikeys/" + cid, body: `{"readOnly":true}`})
	e.must(http.StatusOK, req{method: "PUT", path: "/api/groups/billing/apikeys/" + cid, body: map[string]any{"clientSecret": secret, "clientName": "renamed", "authorizedEntities": []string{"group_billing"}}})
	e.must(http.StatusOK, req{method: "DELETE", path: "/api/groups/billing/apikeys/" + cid})
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/apikeys/" + cid})

	// Scoped by route.
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_r1", "r1.example.com", 3001)})
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes/route_r1/apikeys", body: map[string]any{"clientId": "routekey00000001", "clientName": "rk"}})
	if l := e.must(http.StatusOK, req{method: "GET", path: "/api/routes/route_r1/apikeys"}).list(t); len(l) != 1 {
		t.Fatalf("route-scoped list: %v", l)
	}
	k2 := e.s.published.Load().keys.Get("routekey00000001")
	if k2 == nil || !k2.AuthorizedOn("route_r1", nil) {
		t.Fatalf("route-scoped key not authorized on the route in the published snapshot")
	}
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/routes/route_nope/apikeys"})

	// Global config.
	gc := e.must(http.StatusOK, req{method: "GET", path: "/api/globalconfig"})
	e.must(http.StatusPreconditionFailed, req{method: "PATCH", path: "/api/globalconfig", body: `{"maintenanceMode":true}`, header: map[string]string{"If-Match": `"x"`}})
	p := e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `{"maintenanceMode":true,"ipFiltering":{"blacklist":["10.0.0.0/8"]}}`,
		header: map[string]string{"If-Match": gc.header.Get("ETag")}}).obj(t)
	if p["maintenanceMode"] != true || p["trustXForwarded"] != false {
		t.Fatalf("global patch: %v", p)
	}
	if g := e.s.Global(); !g.MaintenanceMode || len(g.Blocked) != 1 || g.Blocked[0].String() != "10.0.0.0/8" || g.TrustXForwarded {
		t.Fatalf("global settings not compiled: %+v", g)
	}
	bad := e.must(http.StatusBadRequest, req{method: "PUT", path: "/api/globalconfig", body: `{"ipFiltering":{"whitelist":["not-an-ip"]},"throttlingQuota":-1}`})
	fieldsNamed(t, bad, "ipFiltering.whitelist[0]", "throttlingQuota")
}

// fieldsNamed fails unless the error body names each field.
func fieldsNamed(t *testing.T, r resp, fields ...string) {
	t.Helper()
	m := r.obj(t)
	got := map[string]bool{}
	fs, _ := m["fields"].([]any)
	for _, f := range fs {
		got[f.(map[string]any)["field"].(string)] = true
	}
	for _, f := range fields {
		if !got[f] {
			t.Errorf("error does not name field %q: %s", f, r.body)
		}
	}
}
