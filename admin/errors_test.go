package admin

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 4096 })
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_a", "a.example.com", 3001)})

	f := func(want int, code string, q req) resp {
		t.Helper()
		r := e.must(want, q)
		if got := r.obj(t)["error"]; got != code {
			t.Fatalf("%s %s: error %v, want %s", q.method, q.path, got, code)
		}
		if r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("error content type %q", r.header.Get("Content-Type"))
		}
		return r
	}
	// Validation names every bad field.
	bad := f(http.StatusBadRequest, "errors.validation", req{method: "POST", path: "/api/routes", body: map[string]any{
		"enabled": "yes", "frontend": map[string]any{"domains": []any{}}, "metadata": map[string]any{"n": 1},
		"backend": map[string]any{"targets": []any{map[string]any{"hostname": "127.0.0.1", "port": 70000}}},
	}})
	fieldsNamed(t, bad, "enabled", "frontend.domains", "metadata.n", "backend.targets[0].port")
	bk := f(http.StatusBadRequest, "errors.validation", req{method: "POST", path: "/api/apikeys", body: map[string]any{"dailyQuota": -5, "authorizedEntities": []any{3}}})
	fieldsNamed(t, bk, "clientName", "dailyQuota", "authorizedEntities[0]")
	fieldsNamed(t, f(http.StatusBadRequest, "errors.validation", req{method: "POST", path: "/api/groups", body: map[string]any{"id": "a/b"}}), "id", "name")

	// Strict JSON.
	f(http.StatusBadRequest, "errors.bad.request", req{method: "POST", path: "/api/groups", body: `{"id":"x","name":"a","name":"b"}`})
	f(http.StatusBadRequest, "errors.bad.request", req{method: "POST", path: "/api/groups", body: `{"id":"x","name":"a"} {}`})
	f(http.StatusBadRequest, "errors.bad.request", req{method: "POST", path: "/api/groups", body: `{"id":"x",`})
	f(http.StatusBadRequest, "errors.bad.request", req{method: "POST", path: "/api/groups", body: `["not an object"]`})
	f(http.StatusBadRequest, "errors.bad.request", req{method: "POST", path: "/api/groups", body: strings.Repeat("[", 100) + strings.Repeat("]", 100)})
	f(http.StatusRequestEntityTooLarge, "errors.entity.too.large", req{method: "POST", path: "/api/groups",
		body: `{"id":"x","name":"` + strings.Repeat("a", 5000) + `"}`})

	// Content type.
	f(http.StatusUnsupportedMediaType, "errors.unsupported.media.type", req{method: "POST", path: "/api/groups",
		body: `{"id":"x","name":"a"}`, header: map[string]string{"Content-Type": "text/plain"}})
	f(http.StatusUnsupportedMediaType, "errors.unsupported.media.type", req{method: "PUT", path: "/api/routes/route_a",
		body: `{}`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	f(http.StatusUnsupportedMediaType, "errors.unsupported.media.type", req{method: "POST", path: "/api/otoroshi.json",
		body: `{}`, header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}})

	// Unknown ids, duplicates, preconditions, methods, paths.
	f(http.StatusNotFound, "errors.not.found", req{method: "GET", path: "/api/routes/route_missing"})
	f(http.StatusNotFound, "errors.not.found", req{method: "PATCH", path: "/api/apikeys/missing", body: `{}`})
	f(http.StatusNotFound, "errors.not.found", req{method: "GET", path: "/api/apikeys/missing/quotas"})
	f(http.StatusNotFound, "errors.not.found", req{method: "GET", path: "/api/nothing-here"})
	f(http.StatusConflict, "errors.conflict", req{method: "POST", path: "/api/routes", body: routeBody("route_a", "other.example.com", 3001)})
	f(http.StatusPreconditionFailed, "errors.precondition.failed", req{method: "PATCH", path: "/api/routes/route_a", body: `{}`, header: map[string]string{"If-Match": `W/"weak"`}})
	r := f(http.StatusMethodNotAllowed, "errors.method.not.allowed", req{method: "POST", path: "/api/routes/route_a", body: `{}`})
	if r.header.Get("Allow") != "DELETE, GET, PATCH, PUT" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}

	// A write that would not compile (two routes claiming the same domain) is refused and not stored.
	before := e.pub.count()
	inv := f(http.StatusBadRequest, "errors.invalid.configuration", req{method: "POST", path: "/api/routes", body: routeBody("route_b", "a.example.com", 3002)})
	if !bytes.Contains(inv.body, []byte("route_")) {
		t.Fatalf("compile error does not name the route: %s", inv.body)
	}
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/routes/route_b"})
	if e.pub.count() != before {
		t.Fatalf("a refused write was published")
	}
	e.stop()
	e.start(nil)
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/routes/route_b"})
	e.must(http.StatusOK, req{method: "GET", path: "/api/routes/route_a"})
}

func TestAuthAndOrigin(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowedHosts = []string{"admin.example.com"} })
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_a", "a.example.com", 3001)})
	e.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: map[string]any{"clientId": "key0000000000001", "clientName": "k"}})
	for _, ep := range e.s.routes {
		path := strings.NewReplacer("{id}", "route_a", "{clientId}", "key0000000000001").Replace(ep.pattern)
		if strings.HasPrefix(ep.pattern, "/api/apikeys/{id}") {
			path = strings.Replace(ep.pattern, "{id}", "key0000000000001", 1)
		}
		if strings.HasPrefix(ep.pattern, "/api/groups/{id}") {
			path = strings.Replace(path, "route_a", "default", 1)
		}
		if ep.pattern == "/api/session" && ep.public {
			continue // login and logout: session_test.go
		}
		if ep.public {
			e.must(http.StatusOK, req{method: ep.method, path: path, noAuth: true})
			continue
		}
		r := e.must(http.StatusUnauthorized, req{method: ep.method, path: path, noAuth: true, body: `{}`})
		if r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s %s: no WWW-Authenticate", ep.method, path)
		}
		e.must(http.StatusUnauthorized, req{method: ep.method, path: path, noAuth: true, body: `{}`,
			header: map[string]string{"Otoroshi-Client-Id": testClientID, "Otoroshi-Client-Secret": testSecret + "x"}})
		e.must(http.StatusUnauthorized, req{method: ep.method, path: path, noAuth: true, body: `{}`,
			header: map[string]string{"Authorization": "Basic " + "YWRtaW46YWRtaW4="}})
		// The right key clears the failures counted so far, which would otherwise throttle this
		// loop (guard.go).
		e.must(http.StatusOK, req{method: "GET", path: "/api/session"})
	}
	// The Otoroshi header pair works as well as Basic.
	e.must(http.StatusOK, req{method: "GET", path: "/api/routes", noAuth: true,
		header: map[string]string{"Otoroshi-Client-Id": testClientID, "Otoroshi-Client-Secret": testSecret}})

	// DNS rebinding and CSRF.
	e.must(http.StatusForbidden, req{method: "GET", path: "/api/routes", header: map[string]string{"Host": "evil.example"}})
	e.must(http.StatusForbidden, req{method: "POST", path: "/api/groups", body: `{"id":"g","name":"g"}`,
		header: map[string]string{"Origin": "http://evil.example"}})
	e.must(http.StatusForbidden, req{method: "GET", path: "/api/routes", header: map[string]string{"Origin": "null"}})
	for _, host := range []string{"localhost:9000", "127.0.0.1", "[::1]:9000", "admin.example.com", "ADMIN.example.com:443"} {
		e.must(http.StatusOK, req{method: "GET", path: "/api/routes", header: map[string]string{"Host": host, "Origin": "http://" + host}})
	}
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/nothing", header: map[string]string{"Host": "localhost"}})
}
