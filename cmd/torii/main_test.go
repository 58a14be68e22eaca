package main

import (
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
	"syscall"
	"testing"
	"time"
)

// These tests build the real binary and run it on loopback ports.

var toriiBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "torii-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	toriiBin = filepath.Join(dir, "torii")
	out, err := exec.Command("go", "build", "-o", toriiBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot build torii: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startTorii runs the binary with args until the test ends, and waits until
// addr accepts connections.
func startTorii(t *testing.T, addr string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(toriiBin, args...)
	cmd.Stderr = &testLog{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("torii did not exit on SIGTERM")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("torii did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type testLog struct{ t *testing.T }

func (l *testLog) Write(p []byte) (int, error) {
	l.t.Logf("torii: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

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
	addr := freeAddr(t)
	startTorii(t, addr, "serve", "--listen", addr, "--admin", freeAddr(t), "--echo", freeAddr(t), "--data-dir", t.TempDir())
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
	addr := freeAddr(t)
	startTorii(t, addr, "serve", "--listen", addr, "--admin", "off", "--echo", freeAddr(t),
		"--no-otoroshi-headers-in", "--no-otoroshi-headers-back")
	resp, body := get(t, addr, "demo.torii.local", "/")
	if resp.StatusCode != 200 || resp.Header.Get("Otoroshi-Request-Id") != "" || strings.Contains(body, "Otoroshi-") {
		t.Errorf("Otoroshi headers sent although turned off: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

func backend(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestProxyQuickModeRoundRobin(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	addr := freeAddr(t)
	startTorii(t, addr, "proxy", "--listen", addr, "--loops", "1", "--to", "http://"+a, "--to", "http://"+b)
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
	be := backend(t, "from-file")
	host, port, _ := net.SplitHostPort(be)
	routes := fmt.Sprintf(`{"routes": [{"id": "route_1", "name": "api", "enabled": true,
		"frontend": {"domains": ["api.test/v1"], "strip_path": true},
		"backend": {"targets": [{"id": "t1", "hostname": %q, "port": %s}], "root": "/"}}]}`, host, port)
	path := filepath.Join(t.TempDir(), "routes.json")
	if err := os.WriteFile(path, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startTorii(t, addr, "serve", "--listen", addr, "--admin", "off", "--echo", "off", "--config", path)
	if _, body := get(t, addr, "api.test", "/v1/users"); body != "from-file" {
		t.Errorf("routed body %q", body)
	}
	if resp, _ := get(t, addr, "api.test", "/v2"); resp.StatusCode != 404 {
		t.Errorf("unrouted path: %d", resp.StatusCode)
	}
}

func TestSigtermExitsCleanly(t *testing.T) {
	addr := freeAddr(t)
	cmd := exec.Command(toriiBin, "proxy", "--listen", addr, "--to", "http://127.0.0.1:1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("torii did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		t.Fatal("torii did not exit on SIGTERM")
	}
}

func TestBadArguments(t *testing.T) {
	f := func(args ...string) {
		t.Helper()
		out, err := exec.Command(toriiBin, args...).CombinedOutput()
		if err == nil {
			t.Errorf("torii %v succeeded: %s", args, out)
		}
	}
	f()
	f("nope")
	f("proxy", "--listen", "127.0.0.1:0")
	f("proxy", "--to", "ftp://x")
	f("serve", "--config", "/nonexistent/routes.json")
	f("serve", "--admin", "off", "--echo", "off", "--config", "/dev/null")
	f("serve", "extra")
	f("serve", "--access-log-format", "xml")
}
