package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/internal/testkit"
	"github.com/torii-gateway/torii/pki"
	"github.com/torii-gateway/torii/tlsedge"
)

// tlsRecorder keeps the last SNI table published.
type tlsRecorder struct {
	mu sync.Mutex
	t  *tlsedge.Table
}

func (r *tlsRecorder) SetTable(t *tlsedge.Table) { r.mu.Lock(); r.t = t; r.mu.Unlock() }
func (r *tlsRecorder) table() *tlsedge.Table     { r.mu.Lock(); defer r.mu.Unlock(); return r.t }

func mint(t *testing.T, o pki.MintOptions) *pki.Minted { return testkit.Mint(t, o) }

func TestCertificatesCRUD(t *testing.T) {
	rec := &tlsRecorder{}
	e := newEnv(t, func(o *Options) { o.TLS = rec })
	ca := mint(t, pki.MintOptions{CommonName: "ca", CA: true})
	leaf := mint(t, pki.MintOptions{CommonName: "api", Hosts: []string{"api.example.com", "*.api.example.com"}, Issuer: ca})
	other := mint(t, pki.MintOptions{CommonName: "other", Issuer: ca})
	old := mint(t, pki.MintOptions{CommonName: "old", Hosts: []string{"old.example.com"}, Issuer: ca,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})

	tpl := e.must(http.StatusOK, req{method: "GET", path: "/api/certificates/_template"}).obj(t)
	for _, f := range []string{"chain", "privateKey", "caRef", "domain", "selfSigned", "ca", "valid", "autoRenew", "letsEncrypt",
		"client", "keypair", "exposed", "subject", "from", "to", "sans"} {
		if _, ok := tpl[f]; !ok {
			t.Errorf("template lacks %s", f)
		}
	}
	if tpl["selfSigned"] != true || tpl["valid"] != true {
		t.Errorf("template: %v", tpl)
	}

	created := e.must(http.StatusCreated, req{method: "POST", path: "/api/certificates",
		body: map[string]any{"id": "api-cert", "name": "api", "chain": leaf.ChainPEM, "privateKey": leaf.KeyPEM}}).obj(t)
	if created["subject"] != "CN=api,O=Torii" || created["domain"] != "api.example.com" || created["valid"] != true ||
		created["ca"] != false || len(created["sans"].([]any)) != 2 {
		t.Fatalf("derived fields: %v", created)
	}
	if fmt.Sprint(created["to"]) != fmt.Sprint(leaf.Cert.NotAfter.UnixMilli()) {
		t.Fatalf("to: %v", created["to"])
	}
	if c := rec.table().Lookup("x.api.example.com"); c == nil || c.ID != "api-cert" {
		t.Fatalf("published table: %v", c)
	}
	// The CA, kept for trust: no key needed; it verifies client certificates.
	e.must(http.StatusCreated, req{method: "POST", path: "/api/certificates", body: map[string]any{"id": "ca", "chain": ca.ChainPEM, "ca": true}})

	// ETag / If-Match as for every entity.
	r := e.must(http.StatusOK, req{method: "GET", path: "/api/certificates/api-cert"})
	etag := r.header.Get("ETag")
	e.must(http.StatusPreconditionFailed, req{method: "PATCH", path: "/api/certificates/api-cert", body: `{"name":"x"}`, header: map[string]string{"If-Match": `"nope"`}})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/certificates/api-cert", body: `{"name":"renamed"}`, header: map[string]string{"If-Match": etag}})

	// Bad input: 400 naming the field.
	f := func(body map[string]any, field, msg string) {
		t.Helper()
		r := e.must(http.StatusBadRequest, req{method: "POST", path: "/api/certificates", body: body})
		var er struct {
			Fields []FieldError `json:"fields"`
		}
		_ = json.Unmarshal(r.body, &er)
		if len(er.Fields) == 0 || er.Fields[0].Field != field || !strings.Contains(er.Fields[0].Message, msg) {
			t.Fatalf("want field %s (%s), got %s", field, msg, r.body)
		}
		if strings.Contains(string(r.body), "BEGIN PRIVATE KEY") {
			t.Fatal("error quotes the key")
		}
	}
	f(map[string]any{"id": "bad1", "chain": "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", "privateKey": leaf.KeyPEM}, "chain", "PEM")
	f(map[string]any{"id": "bad2", "chain": leaf.ChainPEM, "privateKey": other.KeyPEM}, "privateKey", "does not match")
	f(map[string]any{"id": "bad3", "chain": leaf.ChainPEM, "privateKey": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, "privateKey", "cannot parse")
	f(map[string]any{"id": "bad4", "chain": old.ChainPEM, "privateKey": old.KeyPEM}, "chain", "expired")
	f(map[string]any{"id": "bad5"}, "chain", "required")

	// Private keys never reach the audit log.
	audit := e.must(http.StatusOK, req{method: "GET", path: "/api/audit/events?pageSize=50"})
	if bytes.Contains(audit.body, []byte("PRIVATE KEY")) || !bytes.Contains(audit.body, []byte("CREATE_CERTIFICATE")) {
		t.Fatalf("audit: %s", audit.body)
	}

	// Removal: the next table no longer has it.
	e.must(http.StatusOK, req{method: "DELETE", path: "/api/certificates/api-cert"})
	if c := rec.table().Lookup("api.example.com"); c != nil {
		t.Fatalf("removed certificate still served: %s", c.ID)
	}
}

// TestCertificatesRoundTrip imports both real Otoroshi exports and exports them back: every
// certificate, private key included, comes out identical.
func TestCertificatesRoundTrip(t *testing.T) {
	for _, file := range []string{"export-relay-demo.json", "export-tunnel-demo.json"} {
		t.Run(file, func(t *testing.T) {
			rec := &tlsRecorder{}
			e := newEnv(t, func(o *Options) { o.TLS = rec })
			raw := readTestdata(t, file)
			e.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: raw})
			exp := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"})
			var in, out map[string]any
			if err := json.Unmarshal(raw, &in); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(exp.body, &out); err != nil {
				t.Fatal(err)
			}
			// Exports list entities by id; each certificate must come back byte for byte.
			byID := func(l any) map[string]any {
				m := map[string]any{}
				for _, c := range l.([]any) {
					m[c.(map[string]any)["id"].(string)] = c
				}
				return m
			}
			a, _ := jsonx.Encode(byID(in["certificates"]))
			b, _ := jsonx.Encode(byID(out["certificates"]))
			if len(byID(out["certificates"])) != 5 {
				t.Fatalf("%d certificates exported", len(byID(out["certificates"])))
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("certificates changed by the round trip:\n%.600s\n%.600s", a, b)
			}
			// The wildcard certificate serves *.oto.tools (expired, but the only one).
			if c := rec.table().Lookup("foo.oto.tools"); c == nil || c.ID != "otoroshi-wildcard" {
				t.Fatalf("SNI table after import: %v", c)
			}
		})
	}
}

// alertRecorder keeps the alerts published.
type alertRecorder struct {
	mu    sync.Mutex
	names []string
	ids   []string
}

func (a *alertRecorder) PublishAlert(name string, fields map[string]any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.names = append(a.names, name)
	a.ids = append(a.ids, fields["cert"].(map[string]any)["id"].(string))
	if _, err := jsonx.Encode(fields); err != nil {
		return err
	}
	return nil
}

// TestCertificateExpiryAlerts moves an injected clock: nothing 31 days before the end, one
// CertAlmostExpiredAlert at 30 days (not repeated), one CertExpiredAlert once past the end.
func TestCertificateExpiryAlerts(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	e := newEnv(t, func(o *Options) { o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now } })
	rec := &alertRecorder{}
	e.s.setAlerts(rec)
	leaf := mint(t, pki.MintOptions{CommonName: "soon", Hosts: []string{"soon.example.com"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(60 * 24 * time.Hour)})
	e.must(http.StatusCreated, req{method: "POST", path: "/api/certificates", body: map[string]any{"id": "soon", "chain": leaf.ChainPEM, "privateKey": leaf.KeyPEM}})
	end := leaf.Cert.NotAfter
	f := func(at time.Time, want string) {
		t.Helper()
		e.s.checkCertExpiry(at)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if got := strings.Join(rec.names, ","); got != want {
			t.Fatalf("at end%+v: alerts %q, want %q", at.Sub(end), got, want)
		}
	}
	f(end.Add(-31*24*time.Hour), "")
	f(end.Add(-30*24*time.Hour), "CertAlmostExpiredAlert")
	f(end.Add(-29*24*time.Hour), "CertAlmostExpiredAlert")
	f(end.Add(time.Minute), "CertAlmostExpiredAlert,CertExpiredAlert")
	f(end.Add(time.Hour), "CertAlmostExpiredAlert,CertExpiredAlert")
	if rec.ids[0] != "soon" {
		t.Fatalf("alert for %v", rec.ids)
	}
}
