package main

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
)

// TestTLSGlobalVersions: the global tlsSettings.minVersion/maxVersion is applied at publish by the
// next handshake (no restart), a TLS 1.2 client is refused once it says 1.3 and accepted again
// once relaxed; bad values get a 400 naming the field; unset, the --tls-min-version flag rules.
func TestTLSGlobalVersions(t *testing.T) { bothRelays(t, testTLSGlobalVersions) }

func testTLSGlobalVersions(t *testing.T) {
	g := startGateway(t, t.TempDir(), "off", "--listen-tls", anyPort, "--tls-relay", tlsRelay)
	handshake := func(maxV uint16) (uint16, error) {
		t.Helper()
		c, err := tls.Dial("tcp", g.TLS, &tls.Config{ServerName: "demo.torii.local", InsecureSkipVerify: true, MaxVersion: maxV})
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.ConnectionState().Version, nil
	}
	if v, err := handshake(tls.VersionTLS12); err != nil || v != tls.VersionTLS12 {
		t.Fatalf("TLS 1.2 client before the setting: %x %v", v, err)
	}
	early, err := tls.Dial("tcp", g.TLS, &tls.Config{ServerName: "demo.torii.local", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()

	for _, bad := range []struct{ body, field string }{
		{`{"tlsSettings":{"minVersion":"1.1"}}`, "tlsSettings.minVersion"},
		{`{"tlsSettings":{"maxVersion":13}}`, "tlsSettings.maxVersion"},
		{`{"tlsSettings":{"minVersion":"1.3","maxVersion":"1.2"}}`, "tlsSettings.minVersion"},
	} {
		code, b := g.api("PATCH", "/api/globalconfig", bad.body)
		if code != http.StatusBadRequest || !strings.Contains(string(b), bad.field) {
			t.Fatalf("%s: %d %s", bad.body, code, b)
		}
	}

	g.mustAPI(http.StatusOK, "PATCH", "/api/globalconfig", `{"tlsSettings":{"minVersion":"1.3"}}`)
	if _, err := handshake(tls.VersionTLS12); err == nil {
		t.Fatal("TLS 1.2 client accepted after tlsSettings.minVersion 1.3")
	}
	if v, err := handshake(0); err != nil || v != tls.VersionTLS13 {
		t.Fatalf("TLS 1.3 client with minVersion 1.3: %x %v", v, err)
	}
	// The connection made before the change keeps its TLS 1.2 session.
	if _, err := early.Write([]byte("GET / HTTP/1.1\r\nHost: demo.torii.local\r\n\r\n")); err != nil {
		t.Fatalf("early TLS 1.2 connection after the change: %v", err)
	}
	buf := make([]byte, 12)
	if _, err := early.Read(buf); err != nil || !strings.HasPrefix(string(buf), "HTTP/1.1 ") {
		t.Fatalf("early TLS 1.2 connection after the change: %q %v", buf, err)
	}

	g.mustAPI(http.StatusOK, "PATCH", "/api/globalconfig", `{"tlsSettings":{"minVersion":"1.2","maxVersion":"1.2"}}`)
	if v, err := handshake(0); err != nil || v != tls.VersionTLS12 {
		t.Fatalf("maxVersion 1.2: %x %v", v, err)
	}
	g.mustAPI(http.StatusOK, "PATCH", "/api/globalconfig", `{"tlsSettings":{"minVersion":null,"maxVersion":null}}`)
	if v, err := handshake(tls.VersionTLS12); err != nil || v != tls.VersionTLS12 {
		t.Fatalf("TLS 1.2 client after the setting was relaxed: %x %v", v, err)
	}
}

// TestTLSGlobalVersionsOverFlag: the global setting wins over --tls-min-version.
func TestTLSGlobalVersionsOverFlag(t *testing.T) { bothRelays(t, testTLSGlobalVersionsOverFlag) }

func testTLSGlobalVersionsOverFlag(t *testing.T) {
	g := startGateway(t, t.TempDir(), "off", "--listen-tls", anyPort, "--tls-relay", tlsRelay, "--tls-min-version", "1.3")
	dial := func() error {
		c, err := tls.Dial("tcp", g.TLS, &tls.Config{ServerName: "demo.torii.local", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
		if err == nil {
			c.Close()
		}
		return err
	}
	if dial() == nil {
		t.Fatal("TLS 1.2 accepted with --tls-min-version 1.3")
	}
	g.mustAPI(http.StatusOK, "PATCH", "/api/globalconfig", `{"tlsSettings":{"minVersion":"1.2"}}`)
	if err := dial(); err != nil {
		t.Fatalf("TLS 1.2 refused after tlsSettings.minVersion 1.2 over --tls-min-version 1.3: %v", err)
	}
}
