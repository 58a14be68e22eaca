package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

// limitedBin returns a script that runs the torii binary with RLIMIT_NOFILE set to n, soft
// and hard (so that torii cannot raise it), through util-linux's prlimit.
func limitedBin(t *testing.T, n int) string {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	path := filepath.Join(t.TempDir(), "torii-limited")
	script := fmt.Sprintf("#!/bin/sh\nexec prlimit --nofile=%d:%d -- %s \"$@\"\n", n, n, toriiBin)
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// keptConn is a client keep-alive connection to the proxy.
type keptConn struct {
	c  net.Conn
	br *bufio.Reader
}

// get sends one GET on the connection and returns the status, or an error if the
// connection was lost.
func (k *keptConn) get(host string) (int, error) {
	_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(k.c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func dialKept(t *testing.T, addr string) *keptConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &keptConn{c: c, br: bufio.NewReader(c)}
}

var acceptErrorsRe = regexp.MustCompile(`(?m)^torii_accept_errors_total (\d+)`)

// TestFDExhaustionKeepsServing: torii serve under a 256-descriptor limit with --max-conns
// off, flooded with 300 idle connections, meets EMFILE in accept. Before the own acceptor,
// gnet shut the engine down on it and dropped every connection, and the process exited 0.
// Now: established connections keep being served, the admin API answers on its keep-alive
// connection, the refusals are counted and logged once, and once the flood goes away new
// connections are served again; SIGTERM still exits 0.
func TestFDExhaustionKeepsServing(t *testing.T) {
	be := testkit.TextBackend(t, "ok")
	host, port, _ := net.SplitHostPort(be)
	routes := fmt.Sprintf(`[{"id": "route_fd", "name": "fd", "enabled": true,
		"frontend": {"domains": ["fd.test"]},
		"backend": {"targets": [{"id": "t1", "hostname": %q, "port": %s}], "root": "/"}}]`, host, port)
	cfg := filepath.Join(t.TempDir(), "routes.json")
	if err := os.WriteFile(cfg, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testkit.StartTorii(t, limitedBin(t, 256), "serve", "--listen", anyPort, "--admin", anyPort,
		"--echo", "off", "--data-dir", t.TempDir(), "--config", cfg, "--loops", "1", "--max-conns", "-1")
	g := &gateway{Torii: p, t: t}
	if m := keyRe.FindStringSubmatch(p.Out.String()); m != nil {
		g.id, g.secret = m[1], m[2]
	}
	if !strings.Contains(p.Out.String(), "hard=256") {
		t.Fatalf("the descriptor limit is not logged:\n%s", p.Out)
	}

	// One keep-alive admin client and 40 keep-alive proxy clients, before the flood.
	adminClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	acceptErrors := func() int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+p.Admin+"/metrics", nil)
		req.SetBasicAuth(g.id, g.secret)
		resp, err := adminClient.Do(req)
		if err != nil {
			t.Fatalf("admin API: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := acceptErrorsRe.FindSubmatch(b)
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("admin /metrics: %d, no torii_accept_errors_total in\n%.2000s", resp.StatusCode, b)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	if n := acceptErrors(); n != 0 {
		t.Fatalf("accept errors before the flood: %d", n)
	}
	kept := make([]*keptConn, 40)
	for i := range kept {
		kept[i] = dialKept(t, p.Proxy)
		if code, err := kept[i].get("fd.test"); code != 200 {
			t.Fatalf("before the flood, connection %d: %d %v", i, code, err)
		}
	}

	// The flood: 300 idle connections, more than the descriptors left.
	var flood []net.Conn
	for range 300 {
		c, err := net.DialTimeout("tcp", p.Proxy, 5*time.Second)
		if err != nil {
			break // the accept queue is full: enough
		}
		flood = append(flood, c)
	}
	defer func() {
		for _, c := range flood {
			_ = c.Close()
		}
	}()
	testkit.Eventually(t, "an accept error counted", func() error {
		if n := acceptErrors(); n == 0 {
			return fmt.Errorf("none with %d flood connections", len(flood))
		}
		return nil
	})

	for i, k := range kept {
		if code, err := k.get("fd.test"); code != 200 {
			t.Fatalf("during the flood, established connection %d: %d %v", i, code, err)
		}
	}
	select {
	case <-p.Exited():
		t.Fatalf("torii exited during the flood: %v", p.Cmd.ProcessState)
	default:
	}

	for _, c := range flood {
		_ = c.Close()
	}
	flood = nil
	for range 20 {
		testkit.Eventually(t, "a new connection served after the flood", func() error {
			c, err := net.DialTimeout("tcp", p.Proxy, time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			k := &keptConn{c: c, br: bufio.NewReader(c)}
			if code, err := k.get("fd.test"); code != 200 {
				return fmt.Errorf("status %d, %v", code, err)
			}
			return nil
		})
	}
	if n := strings.Count(p.Out.String(), "cannot accept a client connection"); n < 1 || n > 2 {
		t.Errorf("accept error logged %d times in a few seconds, want 1 (rate-limited)", n)
	}
	p.Stop()
}

func TestDefaultMaxConns(t *testing.T) {
	f := func(soft uint64, want int) {
		t.Helper()
		if got := defaultMaxConns(soft); got != want {
			t.Errorf("defaultMaxConns(%d) = %d, want %d", soft, got, want)
		}
	}
	f(0, 0)
	f(256, 96)      // reserve 128
	f(1024, 576)    // reserve 256
	f(20000, 14808) // reserve 256
}
