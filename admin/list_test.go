package admin

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestListPagesAndSearch checks server-side paging (by rank without a filter), search=<text> on
// id, name and domains ignoring case, filter.<field>, and the X-Count total the UI pages with.
func TestListPagesAndSearch(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 30 {
		b := routeBody(fmt.Sprintf("route_%02d", i), fmt.Sprintf("svc%02d.Example.com", i), 3000+i)
		b["name"] = fmt.Sprintf("Service %02d", i)
		if i%10 == 3 {
			b["name"] = "Billing " + b["name"].(string)
		}
		e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: b})
	}
	f := func(path string, wantCount string, wantIDs ...string) {
		t.Helper()
		res := e.must(http.StatusOK, req{method: "GET", path: path})
		var ids []string
		for _, r := range res.list(t) {
			ids = append(ids, r.(map[string]any)["id"].(string))
		}
		if got := res.header.Get("X-Count"); got != wantCount || strings.Join(ids, ",") != strings.Join(wantIDs, ",") {
			t.Fatalf("GET %s: X-Count %s, ids %v; want %s, %v", path, got, ids, wantCount, wantIDs)
		}
	}
	f("/api/routes?page=2&pageSize=4", "30", "route_04", "route_05", "route_06", "route_07")
	f("/api/routes?page=9&pageSize=4", "30")
	f("/api/routes?search=BILLING&pageSize=2", "3", "route_03", "route_13")
	f("/api/routes?search=billing&page=2&pageSize=2", "3", "route_23")
	f("/api/routes?search=svc07.example", "1", "route_07")
	f("/api/routes?search=route_1&pageSize=3", "10", "route_10", "route_11", "route_12")
	f("/api/routes?filter.name=Service%2005", "1", "route_05")
	f("/api/routes?search=nothing-like-this", "0")
}
