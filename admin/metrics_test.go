package admin

import (
	"net/http"
	"strings"
	"testing"
)

func TestMetricsFormats(t *testing.T) {
	e := newEnv(t, nil)
	e.must(http.StatusCreated, req{method: "POST", path: "/api/groups", body: map[string]any{"id": "group_m", "name": "m"}})
	text := func(q req) {
		t.Helper()
		r := e.must(http.StatusOK, q)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") || !strings.Contains(string(r.body), "\ntorii_admin_writes_total ") {
			t.Errorf("%s %v: not Prometheus text: %s %.200s", q.path, q.header, r.header.Get("Content-Type"), r.body)
		}
	}
	asJSON := func(q req) {
		t.Helper()
		m := e.must(http.StatusOK, q).obj(t)
		if v, ok := m["torii_admin_writes_total"]; !ok || v == 0 {
			t.Errorf("%s %v: JSON lacks torii_admin_writes_total: %v", q.path, q.header, v)
		}
	}
	text(req{method: "GET", path: "/metrics"})
	text(req{method: "GET", path: "/metrics?format=prometheus", header: map[string]string{"Accept": "application/json"}})
	text(req{method: "GET", path: "/metrics", header: map[string]string{"Accept": "application/prometheus"}})
	text(req{method: "GET", path: "/metrics", header: map[string]string{"Accept": "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"}})
	asJSON(req{method: "GET", path: "/metrics?format=json"})
	asJSON(req{method: "GET", path: "/metrics", header: map[string]string{"Accept": "application/json"}})
	r := e.must(http.StatusBadRequest, req{method: "GET", path: "/metrics?format=xml"})
	if !strings.Contains(string(r.body), "format") {
		t.Errorf("bad format error: %s", r.body)
	}
	e.must(http.StatusUnauthorized, req{method: "GET", path: "/metrics", noAuth: true})
}

func TestPrometheusToJSON(t *testing.T) {
	got := prometheusToJSON([]byte("# HELP x y\n# TYPE x counter\nx 3\ny{a=\"b c\"} 1.5\nz NaN\n\n"))
	if got["x"] != 3.0 || got[`y{a="b c"}`] != 1.5 || got["z"] != "NaN" || len(got) != 3 {
		t.Fatalf("%v", got)
	}
}
