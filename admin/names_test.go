package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/route"
)

// TestImportWithUnresolvableNames: a real Otoroshi export whose target names do not resolve here
// imports with 200 (never refused over DNS), the report lists those names as warnings, the targets
// are "unresolved" and the proxy answers 503 with an Otoroshi error id; once the names resolve the
// resolver goroutine publishes the change by itself.
func TestImportWithUnresolvableNames(t *testing.T) {
	engine := startEngine(t)
	hub := newHub(t)
	var denied atomic.Bool
	denied.Store(true)
	e := newEnv(t, func(o *Options) {
		o.Publisher = engine
		o.Events = hub
		o.DNS = fakeDNSDeny(t, func(name string) bool { return denied.Load() && strings.HasPrefix(name, "service-") })
		o.DNS.MinTTL = 100 * time.Millisecond
	})
	rep := importReport(t, e.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: readTestdata(t, "export-relay-demo.json")}))
	const sd = "service_7502530f-bf36-4734-b503-850e7eb3a550" // service-b:80
	warned := map[string]bool{}
	for _, w := range rep.Warnings {
		if strings.HasSuffix(w.Field, ".hostname") {
			warned[w.Entity] = true
		}
	}
	if !warned["serviceDescriptors/"+sd] || len(warned) != 4 || warned["serviceDescriptors/admin-api-service"] {
		t.Fatalf("hostname warnings %+v", rep.Warnings)
	}
	state := func() string {
		ts := e.must(http.StatusOK, req{method: "GET", path: "/api/routes/" + sd + "/targets"}).list(t)
		return ts[0].(map[string]any)["state"].(string)
	}
	if s := state(); s != route.DownUnresolved {
		t.Fatalf("target state %q", s)
	}
	r, _ := http.NewRequest("GET", "http://"+engine.Addr().String()+"/", nil)
	r.Host = "service-b-next-gen.oto.tools"
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var eb map[string]any
	if res.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &eb) != nil || !strings.HasPrefix(eb["error"].(string), "errors.") {
		t.Fatalf("proxy answered %d %s", res.StatusCode, body)
	}

	// Alerts go to the data exporters: one that keeps AlertEvents in a file.
	alerts := filepath.Join(t.TempDir(), "alerts.ndjson")
	exp := fileExporter("exp_alerts", alerts, true)
	exp["filtering"] = map[string]any{"include": []any{map[string]any{"@type": "AlertEvent"}}, "exclude": []any{}}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/data-exporter-configs", body: exp})

	denied.Store(false)
	for deadline := time.Now().Add(10 * time.Second); state() != "up"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the name resolved but the target stayed %q", state())
		}
	}
	waitFile(t, alerts, `"TargetHostnameResolved"`)
}
