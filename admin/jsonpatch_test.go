package admin

import (
	"net/http"
	"testing"
)

func TestPatchWithJSONPatchBody(t *testing.T) {
	e := newEnv(t, nil)
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_a", "a.example.com", 3001)})
	r := e.must(http.StatusOK, req{method: "PATCH", path: "/api/routes/route_a", body: `[{"op":"replace","path":"/enabled","value":false},{"op":"add","path":"/frontend/domains/-","value":"b.example.com"}]`,
		header: map[string]string{"Content-Type": "application/json-patch+json"}}).obj(t)
	if r["enabled"] != false || len(r["frontend"].(map[string]any)["domains"].([]any)) != 2 {
		t.Fatalf("JSON patch not applied: %v", r)
	}
	e.must(http.StatusBadRequest, req{method: "PATCH", path: "/api/routes/route_a", body: `[{"op":"remove","path":"/nope"}]`})
	e.must(http.StatusBadRequest, req{method: "PATCH", path: "/api/routes/route_a", body: `[{"op":"replace","path":"","value":[]}]`})
	// RFC 6901 allows "~0" and "~1" only: "~2" is refused, not stored as a field named "a~2b".
	e.must(http.StatusBadRequest, req{method: "PATCH", path: "/api/routes/route_a", body: `[{"op":"add","path":"/metadata/a~2b","value":"x"}]`})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `[{"op":"replace","path":"/maintenanceMode","value":true}]`})
}
