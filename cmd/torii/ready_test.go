package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

// TestReadyFileReportsBoundPorts starts the real binary with every listener on port 0: each
// reported address is a distinct, picked port that answers as that listener; the demo route
// goes to the echo backend's picked port; the "ready" log line says the same; the file goes at
// exit.
func TestReadyFileReportsBoundPorts(t *testing.T) {
	p := testkit.StartTorii(t, toriiBin, "serve", "--listen", anyPort, "--admin", anyPort, "--echo", anyPort,
		"--data-dir", t.TempDir(), "--loops", "1")
	seen := map[string]bool{}
	for _, a := range []string{p.Proxy, p.Admin, p.Echo} {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" || port == "0" || seen[port] {
			t.Fatalf("reported addresses %+v: %q is not a distinct picked loopback port (%v)", p.Addrs, a, err)
		}
		seen[port] = true
	}

	if res, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + p.Admin + "/health"); err != nil {
		t.Errorf("admin API on %s: %v", p.Admin, err)
	} else if res.Body.Close(); res.StatusCode != http.StatusOK {
		t.Errorf("admin API on %s: /health %d", p.Admin, res.StatusCode)
	}
	if resp, body := get(t, p.Echo, "direct.test", "/direct"); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, `"path":"/direct"`) {
		t.Errorf("echo backend on %s: %d %s", p.Echo, resp.StatusCode, body)
	}
	if resp, body := get(t, p.Proxy, "demo.torii.local", "/through-proxy"); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, `"path":"/through-proxy"`) {
		t.Errorf("demo route through the proxy on %s: %d %s", p.Proxy, resp.StatusCode, body)
	}
	line := "msg=ready proxy=" + p.Proxy + " admin=" + p.Admin + " echo=" + p.Echo
	if !strings.Contains(p.Out.String(), line) {
		t.Errorf("no log line %q", line)
	}
	if !strings.Contains(p.Out.String(), " http://"+p.Admin+"/api/routes") {
		t.Errorf("the admin key's curl example does not name the bound admin address %s", p.Admin)
	}

	ready := readyFileOf(t, p)
	p.Stop()
	if _, err := os.Stat(ready); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ready file %s still there after exit: %v", ready, err)
	}
}

// TestReadyFileQuickMode: torii proxy reports its one listener; the JSON and the log line have
// no admin or echo; the reported port proxies.
func TestReadyFileQuickMode(t *testing.T) {
	be := testkit.TextBackend(t, "quick")
	p := testkit.StartTorii(t, toriiBin, "proxy", "--listen", anyPort, "--loops", "1", "--to", "http://"+be)
	raw, err := os.ReadFile(readyFileOf(t, p))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]string
	if err := json.Unmarshal(raw, &keys); err != nil || len(keys) != 1 || keys["proxy"] != p.Proxy {
		t.Errorf("ready file of torii proxy: %s (%v)", raw, err)
	}
	if _, body := get(t, p.Proxy, "any.test", "/"); body != "quick" {
		t.Errorf("proxy on %s answered %q", p.Proxy, body)
	}
	if line := "msg=ready proxy=" + p.Proxy + "\n"; !strings.Contains(p.Out.String(), line) {
		t.Errorf("no log line %q in:\n%s", line, p.Out)
	}
}

// TestReadyFileStaleRemoved: a ready file left by an earlier run is removed at start, before the
// listeners are bound, so a waiter cannot read old ports; with a listener that cannot bind
// (here the admin port, held by the test) no new one is written.
func TestReadyFileStaleRemoved(t *testing.T) {
	busy, err := net.Listen("tcp", anyPort)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ready := filepath.Join(t.TempDir(), "ready.json")
	if err := os.WriteFile(ready, []byte(`{"proxy":"127.0.0.1:1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runTorii(t, "serve", "--ready-file", ready, "--listen", anyPort, "--admin", busy.Addr().String(),
		"--echo", "off", "--data-dir", t.TempDir())
	if err == nil {
		t.Fatalf("serve with a busy admin port succeeded: %s", out)
	}
	if _, err := os.Stat(ready); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale ready file kept: %v", err)
	}
}

// readyFileOf returns the --ready-file that testkit.StartTorii passed to p.
func readyFileOf(t *testing.T, p *testkit.Torii) string {
	t.Helper()
	args := p.Cmd.Args
	for i, a := range args[:len(args)-1] {
		if a == "--ready-file" {
			return args[i+1]
		}
	}
	t.Fatalf("no --ready-file in %q", args)
	return ""
}

func TestReachable(t *testing.T) {
	f := func(listen, bound, want string) {
		t.Helper()
		if got := reachable(listen, bound); got != want {
			t.Errorf("reachable(%q, %q) = %q, want %q", listen, bound, got, want)
		}
	}
	f("127.0.0.1:0", "127.0.0.1:43127", "127.0.0.1:43127")
	f(":0", "[::]:43127", "127.0.0.1:43127")
	f(":8080", "[::]:8080", "127.0.0.1:8080")
	f("0.0.0.0:0", "0.0.0.0:5000", "127.0.0.1:5000")
	f("[::]:0", "[::]:5000", "[::1]:5000")
	f("[::1]:0", "[::1]:5000", "[::1]:5000")
	f("localhost:0", "127.0.0.1:5000", "localhost:5000")
	f("10.1.2.3:9000", "10.1.2.3:9000", "10.1.2.3:9000")
	f("bad", "127.0.0.1:5000", "127.0.0.1:5000")
	f("127.0.0.1:0", "not-an-addr", "not-an-addr")
}
