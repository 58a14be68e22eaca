package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBulkAndCount: Otoroshi's /apis _bulk takes one entity per ndjson line and answers one result
// line each (a bad line does not stop the others); _count counts.
func TestBulkAndCount(t *testing.T) {
	e := newEnv(t, nil)
	const base = "/apis/organize.otoroshi.io/v1/service-groups"
	nd := map[string]string{"Content-Type": "application/x-ndjson"}
	lines := func(r resp) []map[string]any {
		t.Helper()
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(string(r.body)), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			out = append(out, m)
		}
		return out
	}
	status := func(ls []map[string]any) string {
		var s []string
		for _, l := range ls {
			b, _ := json.Marshal(l["status"])
			s = append(s, string(b))
		}
		return strings.Join(s, " ")
	}
	r := e.must(http.StatusOK, req{method: "POST", path: base + "/_bulk", header: nd,
		body: "{\"id\":\"g1\",\"name\":\"one\"}\n{\"id\":\"g2\",\"name\":\"two\"}\n{\"id\":\"g1\",\"name\":\"dup\"}\nnot json\n{\"id\":\"g3\"}\n"})
	if got := status(lines(r)); got != "201 201 400 400 400" {
		t.Fatalf("bulk create: %s\n%s", got, r.body)
	}
	if c := e.must(http.StatusOK, req{method: "GET", path: base + "/_count"}).obj(t)["count"]; c != json.Number("2") && c != float64(2) {
		t.Fatalf("count %v", c)
	}
	r = e.must(http.StatusOK, req{method: "PATCH", path: base + "/_bulk", header: nd,
		body: `{"id":"g1","patch":[{"op":"replace","path":"/name","value":"uno"}]}` + "\n" + `{"id":"nope","patch":[]}` + "\n"})
	if got := status(lines(r)); got != "200 400" {
		t.Fatalf("bulk patch: %s", got)
	}
	if g := e.must(http.StatusOK, req{method: "GET", path: base + "/g1"}).obj(t); g["name"] != "uno" {
		t.Fatalf("patched group %v", g)
	}
	r = e.must(http.StatusOK, req{method: "PUT", path: base + "/_bulk", header: nd, body: `{"id":"g2","name":"deux"}`})
	if got := status(lines(r)); got != "200" {
		t.Fatalf("bulk update: %s", got)
	}
	r = e.must(http.StatusOK, req{method: "DELETE", path: base + "/_bulk", header: nd, body: "{\"id\":\"g1\"}\n{\"id\":\"g2\"}\n"})
	if got := status(lines(r)); got != "200 200" {
		t.Fatalf("bulk delete: %s", got)
	}
	e.must(http.StatusNotFound, req{method: "GET", path: base + "/g1"})
	e.must(http.StatusBadRequest, req{method: "POST", path: base + "/_bulk", body: `{"id":"g9","name":"json"}`})
}

// TestGlobalConfigAtApisPath: Otoroshi's /apis path of the global config (one entity, id
// "global") reads and writes the same config as /api/globalconfig.
func TestGlobalConfigAtApisPath(t *testing.T) {
	e := newEnv(t, nil)
	const gc = "/apis/config.otoroshi.io/v1/global-configs"
	e.must(http.StatusOK, req{method: "PATCH", path: gc + "/global", body: `{"maintenanceMode":true}`})
	if g := e.must(http.StatusOK, req{method: "GET", path: "/api/globalconfig"}).obj(t); g["maintenanceMode"] != true {
		t.Fatalf("PATCH at the /apis path not applied: %v", g)
	}
	if l := e.must(http.StatusOK, req{method: "GET", path: gc}).list(t); len(l) != 1 || l[0].(map[string]any)["maintenanceMode"] != true {
		t.Fatalf("list %v", l)
	}
	e.must(http.StatusNotFound, req{method: "GET", path: gc + "/other"})
	e.must(http.StatusOK, req{method: "GET", path: gc + "/_template"})
}
