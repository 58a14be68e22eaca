package admin

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/otoroshi"
)

// TestOpenAPIMatchesRoutes checks that every documented operation exists and every served one is
// documented, that each documented operation answers (not the catch-all 404 or a 405), and that
// every $ref resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, nil)
	raw := e.must(http.StatusOK, req{method: "GET", path: "/api/openapi.json"}).body
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not OpenAPI 3: %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			if _, ok := op["responses"]; !ok {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
	}
	served := map[string]bool{}
	for _, ep := range e.s.routes {
		served[ep.method+" "+ep.pattern] = true
	}
	var missing, undocumented []string
	for k := range served {
		if !documented[k] {
			undocumented = append(undocumented, k)
		}
	}
	for k := range documented {
		if !served[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(undocumented)
	if len(missing)+len(undocumented) > 0 {
		t.Fatalf("documented but not served: %v\nserved but not documented: %v", missing, undocumented)
	}

	// Every documented operation reaches its handler.
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_a", "a.example.com", 3001)})
	for k := range documented {
		method, path, _ := strings.Cut(k, " ")
		path = strings.NewReplacer("{id}", "x", "{clientId}", "y").Replace(path)
		r := e.do(req{method: method, path: path, body: `{}`})
		if r.status == http.StatusMethodNotAllowed || (r.status == http.StatusNotFound && strings.Contains(string(r.body), `"path `)) {
			t.Errorf("%s: %d %s", k, r.status, r.body)
		}
	}

	// Every $ref resolves.
	var all map[string]any
	_ = json.Unmarshal(raw, &all)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				var cur any = all
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := cur.(map[string]any)
					cur = m[part]
				}
				if cur == nil {
					t.Errorf("unresolved $ref %s", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(all)
}

// TestOpenAPIMatchesOtoroshi: every /apis/ operation Torii serves is one of Otoroshi's own
// openapi.json (same path, same method), and for each kind Torii manages, every operation
// Otoroshi has on it (CRUD, _template, _count, _bulk) is served.
func TestOpenAPIMatchesOtoroshi(t *testing.T) {
	e := newEnv(t, nil)
	oto := map[string]bool{}
	for _, l := range strings.Split(string(readTestdata(t, "otoroshi-openapi-paths.txt")), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			oto[l] = true
		}
	}
	served := map[string]bool{}
	for _, ep := range e.s.routes {
		k := ep.method + " " + ep.pattern
		served[k] = true
		if strings.HasPrefix(ep.pattern, "/apis/") && !oto[k] {
			t.Errorf("served but not in Otoroshi's openapi.json: %s", k)
		}
	}
	for _, k := range []string{"POST /api/import", "POST /api/otoroshi.json", "GET /api/otoroshi.json"} {
		if !served[k] {
			t.Errorf("%s not served", k)
		}
	}
	prefixes := []string{"/apis/" + otoroshi.GlobalConfigAPIs}
	for _, kd := range kinds {
		if !kd.stored && kd.apis != "" {
			prefixes = append(prefixes, "/apis/"+kd.apis)
		}
	}
	for _, prefix := range prefixes {
		for op := range oto {
			_, path, _ := strings.Cut(op, " ")
			if (path == prefix || strings.HasPrefix(path, prefix+"/")) && !served[op] {
				t.Errorf("Otoroshi has %s on a kind Torii manages; Torii does not serve it", op)
			}
		}
	}
}
