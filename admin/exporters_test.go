package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/event"
	"go.etcd.io/bbolt"
)

// newHub runs a real event hub until the test ends.
func newHub(t *testing.T) *event.Hub {
	t.Helper()
	hub := event.NewHub(event.Options{Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return hub
}

func fileExporter(id, path string, enabled bool) map[string]any {
	return map[string]any{
		"id": id, "name": "audit file", "type": "file", "enabled": enabled,
		"groupSize": 1, "groupDuration": 20,
		"filtering": map[string]any{"include": []any{map[string]any{"@type": "AuditEvent"}}, "exclude": []any{}},
		"config":    map[string]any{"path": path, "maxFileSize": 1 << 20, "maxNumberOfFile": 1},
	}
}

// waitFile waits (bounded) until the file at path contains want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never contained %q; it holds: %s", path, want, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runningExporters(hub *event.Hub) []string {
	var ids []string
	for _, e := range hub.Stats().Exporters {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestDataExporterConfigs covers the CRUD of /api/data-exporter-configs, the configs reaching the
// hub after each committed change, audit events flowing through them, and their reload at start.
func TestDataExporterConfigs(t *testing.T) {
	hub := newHub(t)
	e := newEnv(t, func(o *Options) { o.Events = hub })
	path := filepath.Join(t.TempDir(), "audit.ndjson")

	tpl := e.must(http.StatusOK, req{method: "GET", path: "/api/data-exporter-configs/_template"}).obj(t)
	if tpl["type"] != "console" || tpl["enabled"] != false || fmt.Sprint(tpl["bufferSize"]) != "5000" || fmt.Sprint(tpl["groupSize"]) != "100" ||
		!strings.HasPrefix(tpl["id"].(string), "data_exporter_") {
		t.Fatalf("template: %v", tpl)
	}

	created := e.must(http.StatusCreated, req{method: "POST", path: "/api/data-exporter-configs", body: fileExporter("exp_file", path, true)})
	if loc := created.header.Get("Location"); loc != "/api/data-exporter-configs/exp_file" {
		t.Errorf("Location %q", loc)
	}
	if got := runningExporters(hub); len(got) != 1 || got[0] != "exp_file" {
		t.Fatalf("running exporters after create: %v", got)
	}
	// The next admin write is audited into the exporter's file.
	e.must(http.StatusCreated, req{method: "POST", path: "/api/groups", body: map[string]any{"id": "group_x", "name": "x"}})
	waitFile(t, path, `"CREATE_SERVICEGROUP"`)

	// An exporter of a type Torii does not run is stored and listed by the hub, not started.
	e.must(http.StatusCreated, req{method: "POST", path: "/api/data-exporter-configs", body: map[string]any{
		"id": "exp_elastic", "type": "elastic", "enabled": true, "config": map[string]any{"uris": []any{"http://127.0.0.1:9200"}}}})
	if st := hub.Stats(); len(st.Unsupported) != 1 || st.Unsupported[0] != "exp_elastic" || len(st.Exporters) != 1 {
		t.Fatalf("hub stats after an elastic exporter: %+v", st)
	}
	if l := e.must(http.StatusOK, req{method: "GET", path: "/api/data-exporter-configs"}).list(t); len(l) != 2 {
		t.Fatalf("list: %d entries", len(l))
	}

	var stats struct {
		Published   uint64 `json:"published"`
		Exporters   []struct{ ID string }
		Unsupported []string `json:"unsupported"`
	}
	if err := json.Unmarshal(e.must(http.StatusOK, req{method: "GET", path: "/api/events/stats"}).body, &stats); err != nil ||
		stats.Published == 0 || len(stats.Exporters) != 1 || stats.Exporters[0].ID != "exp_file" || len(stats.Unsupported) != 1 {
		t.Fatalf("/api/events/stats: %v %+v", err, stats)
	}

	// Disabling stops it; the stored config keeps Otoroshi's unknown fields.
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/data-exporter-configs/exp_file",
		body: map[string]any{"enabled": false, "location": map[string]any{"tenant": "default"}}})
	if got := runningExporters(hub); len(got) != 0 {
		t.Fatalf("running exporters after disabling: %v", got)
	}
	got := e.must(http.StatusOK, req{method: "GET", path: "/api/data-exporter-configs/exp_file"}).obj(t)
	if got["enabled"] != false || got["location"] == nil || got["config"].(map[string]any)["path"] != path {
		t.Fatalf("stored after patch: %v", got)
	}
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/data-exporter-configs/exp_file", body: map[string]any{"enabled": true}})
	waitFile(t, path, `"UPDATE_DATAEXPORTER"`)

	// At the next start, the stored exporters are handed to the new hub before any write.
	e.stop()
	hub2 := newHub(t)
	e.start(func(o *Options) { o.Events = hub2 })
	if got := runningExporters(hub2); len(got) != 1 || got[0] != "exp_file" {
		t.Fatalf("running exporters after restart: %v", got)
	}
	e.must(http.StatusOK, req{method: "DELETE", path: "/api/data-exporter-configs/exp_file"})
	if got := runningExporters(hub2); len(got) != 0 {
		t.Fatalf("running exporters after delete: %v", got)
	}
}

func TestDataExporterConfigsRefuseBadInput(t *testing.T) {
	hub := newHub(t)
	e := newEnv(t, func(o *Options) { o.Events = hub })
	f := func(body map[string]any, field string) {
		t.Helper()
		r := e.must(http.StatusBadRequest, req{method: "POST", path: "/api/data-exporter-configs", body: body})
		if !strings.Contains(string(r.body), `"field":"`+field+`"`) {
			t.Errorf("%v: error does not name %s: %s", body, field, r.body)
		}
	}
	f(map[string]any{"type": "console", "bufferSize": 0}, "bufferSize")
	f(map[string]any{"type": "console", "groupSize": "ten"}, "groupSize")
	f(map[string]any{"type": "webhook", "config": map[string]any{"url": "ftp://x"}}, "config.url")
	f(map[string]any{"type": "file", "config": map[string]any{}}, "config.path")
	f(map[string]any{"type": "console", "filtering": map[string]any{"include": []any{map[string]any{"a": map[string]any{"$bogus": 1}}}}}, "filtering.include[0]")
	f(map[string]any{"id": "a/b", "type": "console"}, "id")
	// Valid, but the hub cannot open the file: refused, not stored.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f(map[string]any{"id": "exp_unopenable", "type": "file", "enabled": true, "config": map[string]any{"path": filepath.Join(notDir, "events.ndjson")}}, "config")
	e.must(http.StatusUnsupportedMediaType, req{method: "POST", path: "/api/data-exporter-configs", body: "{}", header: map[string]string{"Content-Type": "text/plain"}})
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/data-exporter-configs/nope"})
	newEnv(t, nil).must(http.StatusNotImplemented, req{method: "GET", path: "/api/events/stats"})
	if st := hub.Stats(); len(st.Exporters)+len(st.Unsupported) != 0 {
		t.Fatalf("a refused config reached the hub: %+v", st)
	}
	if l := e.must(http.StatusOK, req{method: "GET", path: "/api/data-exporter-configs"}).list(t); len(l) != 0 {
		t.Fatalf("a refused config was stored: %v", l)
	}
}

// TestDataExportersExportImport checks that exporters travel in the Otoroshi export's
// dataExporters array, both ways.
func TestDataExportersExportImport(t *testing.T) {
	e := newEnv(t, nil)
	e.must(http.StatusCreated, req{method: "POST", path: "/api/data-exporter-configs", body: map[string]any{"id": "exp_console", "type": "console", "name": "c"}})
	exp := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).obj(t)
	list, _ := exp["dataExporters"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != "exp_console" {
		t.Fatalf("export dataExporters: %v", exp["dataExporters"])
	}
	e2 := newEnv(t, nil)
	e2.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: exp})
	got := e2.must(http.StatusOK, req{method: "GET", path: "/api/data-exporter-configs/exp_console"}).obj(t)
	if got["name"] != "c" || fmt.Sprint(got["bufferSize"]) != "5000" {
		t.Fatalf("imported exporter: %v", got)
	}
}

// TestSchemaMigrationAddsExporters opens a database of schema 1 (no exporter bucket).
func TestSchemaMigrationAddsExporters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "torii.db")
	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket([]byte(bucketExporters)); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(metaSchema), []byte("1"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if db, err = openDB(path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte(bucketExporters)) == nil {
			return errors.New("no exporter bucket after migration")
		}
		if v := string(tx.Bucket([]byte(bucketMeta)).Get([]byte(metaSchema))); v != fmt.Sprint(schemaVersion) {
			return fmt.Errorf("schema %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
