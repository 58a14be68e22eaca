package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/internal/jsonx"
)

// TestMigrationScripts runs what an Otoroshi user's admin scripts do, against the real binary:
// import both real exports as shipped (their internal target names do not resolve here, and that
// never refuses them), read them back through Otoroshi's paths (/api/services, /apis/...), call
// the admin API with the export's own admin API key once the global setting allows it, and export
// then import the result again unchanged.
func TestMigrationScripts(t *testing.T) {
	p, _, keyID, keySecret := serveWithAdminKeyFile(t)
	// call sends one request as a script would, with Otoroshi's client id/secret headers.
	call := func(method, path string, body []byte, id, secret string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+p.Admin+path, bytes.NewReader(body))
		req.Header.Set("Otoroshi-Client-Id", id)
		req.Header.Set("Otoroshi-Client-Secret", secret)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, out)
		}
		return out
	}
	admin := func(method, path string, body []byte, want int) []byte {
		t.Helper()
		return call(method, path, body, keyID, keySecret, want)
	}
	count := func(path string) int {
		t.Helper()
		var l []any
		if err := json.Unmarshal(admin("GET", path, nil, http.StatusOK), &l); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return len(l)
	}
	file := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "admin", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	var rep struct {
		Warnings []struct{ Entity, Field, Message string }
		Kept     map[string]int
		Imported map[string]int
	}
	if err := json.Unmarshal(admin("POST", "/api/otoroshi.json", file("export-relay-demo.json"), http.StatusOK), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Imported["certificates"] != 5 || rep.Kept["simpleAdmins"] != 1 || rep.Kept["tenants"] != 1 {
		t.Errorf("imported %v, kept %v", rep.Imported, rep.Kept)
	}
	if n := count("/api/services"); n != 5 {
		t.Errorf("%d service descriptors after the relay export", n)
	}
	warned := false
	for _, w := range rep.Warnings {
		warned = warned || (strings.HasSuffix(w.Field, ".hostname") && strings.Contains(w.Message, "service-b"))
	}
	if !warned {
		t.Errorf("the report does not name service-b: %+v", rep.Warnings)
	}
	// Its target name does not resolve: the target is down, the proxy answers 503 with an
	// Otoroshi error id.
	resp, body := get(t, p.Proxy, "service-b-next-gen.oto.tools", "/")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"errors.circuit.breaker.open"`) {
		t.Errorf("unresolved target: %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(admin("POST", "/api/import", file("export-tunnel-demo.json"), http.StatusOK), &rep); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/api/services": 1, "/apis/proxy.otoroshi.io/v1/service-descriptors": 1,
		"/apis/proxy.otoroshi.io/v1/routes": 1, "/api/routes": 1, "/apis/pki.otoroshi.io/v1/certificates": 5,
		"/apis/organize.otoroshi.io/v1/tenants": 1, "/apis/organize.otoroshi.io/v1/teams": 1, "/api/admins/simple": 1,
		"/apis/apim.otoroshi.io/v1/apikeys": 3, "/api/groups/admin-api-group/apikeys": 1} {
		if n := count(path); n != want {
			t.Errorf("GET %s: %d entities, want %d", path, n, want)
		}
	}
	var key map[string]any
	_ = json.Unmarshal(admin("GET", "/api/apikeys/admin-api-apikey-id", nil, http.StatusOK), &key)
	secret, _ := key["clientSecret"].(string)
	// The export's admin API key: refused until the setting names its group.
	call("GET", "/api/services", nil, "admin-api-apikey-id", secret, http.StatusUnauthorized)
	admin("PATCH", "/api/globalconfig", []byte(`{"adminApiKeysGroup":"admin-api-group"}`), http.StatusOK)
	call("GET", "/api/services", nil, "admin-api-apikey-id", secret, http.StatusOK)
	call("GET", "/apis/pki.otoroshi.io/v1/certificates/otoroshi-wildcard", nil, "admin-api-apikey-id", secret, http.StatusOK)

	// An export built like a production one (internal names, https/ahttps targets, certificates,
	// auth modules, a JWT verifier, several tenants) imports unedited too; its report names each
	// TLS target as connected with TLS.
	var big struct {
		Converted []string
	}
	if err := json.Unmarshal(admin("POST", "/api/otoroshi.json", file("every-kind-export.json"), http.StatusOK), &big); err != nil {
		t.Fatal(err)
	}
	tls := 0
	for _, c := range big.Converted {
		if strings.Contains(c, "is a TLS target: Torii connects to it with TLS") {
			tls++
		}
	}
	if tls != 3 {
		t.Errorf("%d TLS targets reported, want 3: %+v", tls, big.Converted)
	}
	admin("POST", "/api/import", file("export-tunnel-demo.json"), http.StatusOK)
	admin("PATCH", "/api/globalconfig", []byte(`{"adminApiKeysGroup":"admin-api-group"}`), http.StatusOK)

	// Export, import the export, export again: the same document but for its date.
	first := admin("GET", "/api/otoroshi.json", nil, http.StatusOK)
	admin("POST", "/api/otoroshi.json", first, http.StatusOK)
	second := admin("GET", "/api/otoroshi.json", nil, http.StatusOK)
	if a, b := canonExport(t, first), canonExport(t, second); a != b {
		t.Fatalf("export → import → export differs")
	}
	if !strings.Contains(string(first), `"adminApiKeysGroup":"admin-api-group"`) {
		t.Errorf("the setting is not in the export")
	}
}

// canonExport is an export with sorted keys and without its date fields.
func canonExport(t *testing.T, raw []byte) string {
	t.Helper()
	doc, err := jsonx.DecodeObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	delete(doc, "date")
	delete(doc, "dateRaw")
	out, _ := jsonx.Encode(doc)
	return string(out)
}
