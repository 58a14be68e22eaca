// Package pebbletest runs Let's Encrypt's Pebble ACME test CA on loopback for tests: pebble itself
// (a go tool of this module) and pebble-challtestsrv as its DNS server, which answers 127.0.0.1
// for every name, so any test domain validates against a listener of the test.
//
// # Caveats
//
// Start builds both tools with the go command (cached after the first build) and kills the
// processes at the test's cleanup. Only loopback addresses are used.
package pebbletest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

// CA is a running Pebble.
type CA struct {
	DirectoryURL string
	// Client trusts Pebble's own TLS certificate (its directory is served over HTTPS), whose
	// root is RootsPEM.
	Client   *http.Client
	RootsPEM []byte
}

func moduleDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/letsencrypt/pebble/v2").Output()
	if err != nil {
		t.Fatalf("cannot locate pebble module: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func build(t testing.TB, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Start runs Pebble validating HTTP-01 challenges on 127.0.0.1:httpPort, issuing certificates
// valid for validity.
func Start(t testing.TB, httpPort int, validity time.Duration) *CA {
	t.Helper()
	dir := t.TempDir()
	mod := moduleDir(t)
	pebble := build(t, dir, "github.com/letsencrypt/pebble/v2/cmd/pebble")
	chall := build(t, dir, "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv")

	dnsPort := testkit.FreePort(t)
	run(t, chall, nil, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort), "-http01", "", "-https01", "", "-doh", "",
		"-tlsalpn01", "", "-management", fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")

	apiPort := testkit.FreePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", apiPort),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)),
		"certificate":             filepath.Join(mod, "test/certs/localhost/cert.pem"),
		"privateKey":              filepath.Join(mod, "test/certs/localhost/key.pem"),
		"httpPort":                httpPort,
		"tlsPort":                 testkit.FreePort(t),
		"ocspResponderURL":        "",
		"keyAlgorithm":            "ecdsa",
		"profiles":                map[string]any{"default": map[string]any{"description": "test", "validityPeriod": int(validity.Seconds())}},
	}}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0", "PEBBLE_CHAIN_LENGTH=2"}
	run(t, pebble, env, "-config", cfgPath, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))

	roots := x509.NewCertPool()
	minica, err := os.ReadFile(filepath.Join(mod, "test/certs/pebble.minica.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(minica)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	ca := &CA{DirectoryURL: fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort), Client: client, RootsPEM: minica}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(ca.DirectoryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return ca
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s: %v", ca.DirectoryURL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run starts bin with args and kills it at cleanup; its output goes to the test log on failure.
func run(t testing.TB, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
		}
	})
}
