package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/pebbletest"
	"github.com/torii-gateway/torii/internal/testkit"
)

// TestACMEWithPebble: torii serve obtains a certificate for an entity marked letsEncrypt from
// Pebble on loopback, answering HTTP-01 on its plaintext listener, stores it and serves it.
func TestACMEWithPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Pebble")
	}
	port := testkit.FreePort(t)
	ca := pebbletest.Start(t, port, 90*24*time.Hour)
	roots := filepath.Join(t.TempDir(), "pebble-roots.pem")
	if err := os.WriteFile(roots, ca.RootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	// The plaintext listener is on the port Pebble validates HTTP-01 on.
	g := startGateway(t, t.TempDir(), "off", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--listen-tls", anyPort,
		"--acme-directory", ca.DirectoryURL, "--acme-ca-file", roots, "--acme-check-every", "500ms")
	g.mustAPI(http.StatusCreated, "POST", "/api/certificates", map[string]any{"id": "acme1", "domain": "acme.torii.test", "letsEncrypt": true, "autoRenew": true})
	// Issuance takes a few seconds (Pebble validates, then signs): wait up to 60 s.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, b := g.api("GET", "/api/certificates/acme1", nil)
		var c map[string]any
		_ = json.Unmarshal(b, &c)
		if s, _ := c["chain"].(string); s != "" {
			if sans, _ := c["sans"].([]any); c["valid"] != true || len(sans) != 1 || sans[0] != "acme.torii.test" {
				t.Fatalf("stored certificate: %s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate after 60 s: %s", b)
		}
	}
	c, err := tls.Dial("tcp", g.TLS, &tls.Config{ServerName: "acme.torii.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	leaf := c.ConnectionState().PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "acme.torii.test" {
		t.Fatalf("served %v", leaf.DNSNames)
	}
}
