package admin

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/torii-gateway/torii/core/dns"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/testkit"
)

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "torii.db")
	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bbolt.Tx) error {
		for _, b := range []string{bucketMeta, bucketRoutes, bucketGroups, bucketKeys, bucketGlobal, bucketAudit, BucketQuotas, bucketExporters, bucketDescriptors, "certificates", "authConfigs"} {
			if tx.Bucket([]byte(b)) == nil {
				t.Errorf("bucket %s missing", b)
			}
		}
		if v := string(tx.Bucket([]byte(bucketMeta)).Get([]byte(metaSchema))); v != "3" {
			t.Errorf("schema %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A newer schema is refused rather than misread.
	err = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte(bucketMeta)).Put([]byte(metaSchema), []byte("99")) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openDB(path); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("opening a newer schema: %v", err)
	}
}

// TestStoredStateWithUnresolvableName: a stored route whose target name no longer resolves is
// still published after a restart (the target is down, "unresolved"), and writes go on.
func TestStoredStateWithUnresolvableName(t *testing.T) {
	e := newEnv(t, nil)
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: map[string]any{"id": "route_dns",
		"frontend": map[string]any{"domains": []string{"dns.example.com"}},
		"backend":  map[string]any{"targets": []any{map[string]any{"hostname": "backend.internal.example", "port": 8080}}}}})
	e.stop()
	published := e.pub.count()

	// Restart with a DNS server that is not there.
	dead := testkit.RefusedAddr(t)
	e.start(func(o *Options) {
		o.DNS = dns.Options{Servers: []string{dead}, HostsFile: "-", Timeout: 200 * time.Millisecond}
	})
	if e.pub.count() <= published {
		t.Fatalf("the stored state was not published")
	}
	e.must(http.StatusOK, req{method: "GET", path: "/ready"})
	ts := e.must(http.StatusOK, req{method: "GET", path: "/api/routes/route_dns/targets"}).list(t)
	if st := ts[0].(map[string]any); st["state"] != route.DownUnresolved || st["address"] != "" {
		t.Fatalf("target %v", st)
	}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/groups", body: map[string]any{"id": "g2", "name": "g"}})
}

func TestKeyValidationNamesField(t *testing.T) {
	e := newEnv(t, nil)
	r := e.must(http.StatusBadRequest, req{method: "POST", path: "/api/apikeys", body: map[string]any{"clientId": "key with space", "clientName": "k"}})
	fieldsNamed(t, r, "clientId")
}

func TestSeedAtFirstStartOnly(t *testing.T) {
	seed := []byte(`[{"id":"route_seed","frontend":{"domains":["seed.example.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":3000}]}}]`)
	e := newEnv(t, func(o *Options) { o.Seed = seed })
	e.must(http.StatusOK, req{method: "GET", path: "/api/routes/route_seed"})
	if e.pub.last().Routes.Route("route_seed") == nil {
		t.Fatalf("seed not published")
	}
	e.must(http.StatusOK, req{method: "DELETE", path: "/api/routes/route_seed"})
	e.stop()
	e.start(func(o *Options) { o.Seed = seed })
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/routes/route_seed"}) // not re-seeded

	// A seed that does not compile stops New.
	_, err := New(Options{DBPath: filepath.Join(t.TempDir(), "x.db"), Seed: []byte(`{"routes":[{"id":"r"}]}`),
		BootstrapClientID: "a", BootstrapClientSecret: "b"})
	if err == nil || !strings.Contains(err.Error(), "frontend") {
		t.Fatalf("bad seed: %v", err)
	}
}
