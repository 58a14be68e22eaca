package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestInputLimits(t *testing.T) {
	e := newEnv(t, nil)
	field := func(r resp) string {
		t.Helper()
		var b errorBody
		if err := json.Unmarshal(r.body, &b); err != nil || len(b.Fields) == 0 {
			t.Fatalf("no field error: %s", r.body)
		}
		return b.Fields[0].Field
	}
	withPatterns := func(patterns []string) map[string]any {
		r := routeBody("", "limits.example.com", 3001)
		r["plugins"] = []any{map[string]any{"plugin": "cp:otoroshi.next.plugins.PublicPrivatePaths", "enabled": true,
			"config": map[string]any{"public_patterns": patterns, "private_patterns": []string{}}}}
		return r
	}
	many := make([]string, maxPathPatterns+1)
	for i := range many {
		many[i] = fmt.Sprintf("/p%d/.*", i)
	}
	if got := field(e.must(http.StatusBadRequest, req{method: "POST", path: "/api/routes", body: withPatterns(many)})); got != "plugins[0].config.public_patterns" {
		t.Errorf("too many patterns: field %s", got)
	}
	long := []string{"/ok", "/" + strings.Repeat("a", maxPathPatternBytes) + ".*"}
	if got := field(e.must(http.StatusBadRequest, req{method: "POST", path: "/api/routes", body: withPatterns(long)})); got != "plugins[0].config.public_patterns[1]" {
		t.Errorf("long pattern: field %s", got)
	}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: withPatterns(many[:maxPathPatterns])})

	// The import list cap is the operator's setting, named in the error; the default takes 1M.
	if DefaultMaxImportEntities < 1_000_000 {
		t.Errorf("DefaultMaxImportEntities %d, want at least 1M", DefaultMaxImportEntities)
	}
	small := newEnv(t, func(o *Options) { o.MaxImportEntities = 50 })
	keys := make([]any, 51)
	for i := range keys {
		keys[i] = map[string]any{}
	}
	res := small.must(http.StatusBadRequest, req{method: "POST", path: "/api/otoroshi.json", body: map[string]any{"apiKeys": keys}})
	if got := field(res); got != "apiKeys" || !strings.Contains(string(res.body), "import limit of 50") || !strings.Contains(string(res.body), "--max-import-entities") {
		t.Errorf("too many entities: field %s: %s", got, res.body)
	}
	exporter := func(include []any) map[string]any {
		return map[string]any{"type": "console", "filtering": map[string]any{"include": include, "exclude": []any{}}}
	}
	rules := make([]any, maxFilterRules+1)
	for i := range rules {
		rules[i] = map[string]any{"@type": "GatewayEvent"}
	}
	if got := field(e.must(http.StatusBadRequest, req{method: "POST", path: "/api/data-exporter-configs", body: exporter(rules)})); got != "filtering.include" {
		t.Errorf("too many filter rules: field %s", got)
	}
	longRe := []any{map[string]any{"@type": "GatewayEvent"}, map[string]any{"target": map[string]any{"host": map[string]any{"$regex": strings.Repeat("a", maxFilterValueBytes+1)}}}}
	if got := field(e.must(http.StatusBadRequest, req{method: "POST", path: "/api/data-exporter-configs", body: exporter(longRe)})); got != "filtering.include[1].target.host.$regex" {
		t.Errorf("long $regex: field %s", got)
	}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/data-exporter-configs", body: exporter(rules[:maxFilterRules])})

	// Writes take JSON only: a form a foreign page could post is refused before anything is read.
	for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"} {
		e.must(http.StatusUnsupportedMediaType, req{method: "POST", path: "/api/groups", body: `{"id":"g","name":"g"}`,
			header: map[string]string{"Content-Type": ct}})
	}
	e.must(http.StatusRequestEntityTooLarge, req{method: "POST", path: "/api/groups",
		body: `{"id":"g","name":"` + strings.Repeat("x", DefaultMaxBody) + `"}`})
	// Before any authentication: the login body and the header section.
	e.must(http.StatusRequestEntityTooLarge, req{method: "POST", path: "/api/session", noAuth: true,
		body: `{"clientId":"` + strings.Repeat("x", maxLoginBody) + `"}`})
	e.must(http.StatusRequestHeaderFieldsTooLarge, req{method: "GET", path: "/health", noAuth: true,
		header: map[string]string{"X-Big": strings.Repeat("x", maxHeaderBytes+4096)}})
}
