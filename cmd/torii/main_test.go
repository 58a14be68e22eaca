package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

// These tests build the real binary and run it on loopback ports.

var toriiBin string

// anyPort is the listen address of every listener the tests start: a free loopback port,
// which torii reports in its ready file (see testkit.StartTorii).
const anyPort = "127.0.0.1:0"

func TestMain(m *testing.M) { os.Exit(testkit.MainWithTorii(m, &toriiBin)) }

func get(t *testing.T, addr, host, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServeDemoRoute(t *testing.T) {
	addr := testkit.StartTorii(t, toriiBin, "serve", "--listen", anyPort, "--admin", anyPort, "--echo", anyPort,
		"--data-dir", t.TempDir()).Proxy
	resp, body := get(t, addr, "demo.torii.local", "/hello?x=1")
	var echo struct {
		Service, Method, Path, Host string
	}
	if err := json.Unmarshal([]byte(body), &echo); err != nil || resp.StatusCode != 200 {
		t.Fatalf("demo route: %d %q (%v)", resp.StatusCode, body, err)
	}
	if echo.Service != "torii built-in echo" || echo.Path != "/hello?x=1" || echo.Host != "demo.torii.local" {
		t.Errorf("echo saw %+v", echo)
	}
	if resp.Header.Get("Otoroshi-Request-Id") == "" || !strings.Contains(body, "Otoroshi-Request-Id") {
		t.Errorf("no Otoroshi request id by default: %v %s", resp.Header, body)
	}
	resp, _ = get(t, addr, "other.local", "/")
	if resp.StatusCode != 404 || resp.Header.Get("Otoroshi-Error-Cause") != "errors.service.not.found" {
		t.Errorf("unknown host: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestProxyWithoutOtoroshiHeaders(t *testing.T) {
	addr := testkit.StartTorii(t, toriiBin, "serve", "--listen", anyPort, "--admin", "off", "--echo", anyPort,
		"--no-otoroshi-headers-in", "--no-otoroshi-headers-back").Proxy
	resp, body := get(t, addr, "demo.torii.local", "/")
	if resp.StatusCode != 200 || resp.Header.Get("Otoroshi-Request-Id") != "" || strings.Contains(body, "Otoroshi-") {
		t.Errorf("Otoroshi headers sent although turned off: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

func TestProxyQuickModeRoundRobin(t *testing.T) {
	a, b := testkit.TextBackend(t, "a"), testkit.TextBackend(t, "b")
	addr := testkit.StartTorii(t, toriiBin, "proxy", "--listen", anyPort, "--loops", "1", "--to", "http://"+a, "--to", "http://"+b).Proxy
	got := map[string]int{}
	for range 10 {
		_, body := get(t, addr, "anything.test", "/")
		got[body]++
	}
	if got["a"] != 5 || got["b"] != 5 {
		t.Errorf("round-robin: %v", got)
	}
}

// TestServeRoutesFile runs serve statelessly (--admin off) from a routes file.
func TestServeRoutesFile(t *testing.T) {
	be := testkit.TextBackend(t, "from-file")
	host, port, _ := net.SplitHostPort(be)
	routes := fmt.Sprintf(`{"routes": [{"id": "route_1", "name": "api", "enabled": true,
		"frontend": {"domains": ["api.test/v1"], "strip_path": true},
		"backend": {"targets": [{"id": "t1", "hostname": %q, "port": %s}], "root": "/"}}]}`, host, port)
	path := filepath.Join(t.TempDir(), "routes.json")
	if err := os.WriteFile(path, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	accessLog := filepath.Join(t.TempDir(), "access.log")
	addr := testkit.StartTorii(t, toriiBin, "serve", "--listen", anyPort, "--admin", "off", "--echo", "off", "--config", path,
		"--access-log", accessLog).Proxy
	if _, body := get(t, addr, "api.test", "/v1/users"); body != "from-file" {
		t.Errorf("routed body %q", body)
	}
	if resp, _ := get(t, addr, "api.test", "/v2"); resp.StatusCode != 404 {
		t.Errorf("unrouted path: %d", resp.StatusCode)
	}
	// Without the admin API there is no event hub of its own: --access-log still gets a line
	// per request (it was silently ignored before).
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(accessLog)
		if bytes.Contains(b, []byte("/v1/users")) && bytes.Contains(b, []byte("/v2")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log after 10 s: %q", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSigtermExitsCleanly: on SIGTERM, quick mode exits with status 0 (Stop checks it).
func TestSigtermExitsCleanly(t *testing.T) {
	testkit.StartTorii(t, toriiBin, "proxy", "--listen", anyPort, "--to", "http://127.0.0.1:1").Stop()
}

// runTorii runs the binary with args to its end and returns its output; it fails the test if
// torii runs for more than 15 s.
func runTorii(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, toriiBin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("torii %q still ran after 15s: %s", args, out)
	}
	return out, err
}

func TestBadArguments(t *testing.T) {
	f := func(args ...string) {
		t.Helper()
		if out, err := runTorii(t, args...); err == nil {
			t.Errorf("torii %v succeeded: %s", args, out)
		}
	}
	f()
	f("nope")
	f("proxy", "--listen", anyPort)
	f("proxy", "--listen", anyPort, "--reuseport", "--to", "http://127.0.0.1:1") // SO_REUSEPORT needs a fixed port
	f("proxy", "--to", "ftp://x")
	f("serve", "--config", "/nonexistent/routes.json")
	f("serve", "--admin", "off", "--echo", "off", "--config", "/dev/null")
	f("serve", "extra")
	f("serve", "--access-log-format", "xml")
}
