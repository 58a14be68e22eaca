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
	"sync"
	"sync/atomic"
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

// startLimited runs "torii serve" under a descriptor limit of n with one route, fd.test, to
// a backend answering "ok", plus extra flags. It returns the gateway and a function reading the
// admin /metrics on one keep-alive connection (opened now, before any flood).
func startLimited(t *testing.T, n int, extra ...string) (*gateway, func() string) {
	t.Helper()
	be := testkit.TextBackend(t, "ok")
	host, port, _ := net.SplitHostPort(be)
	routes := fmt.Sprintf(`[{"id": "route_fd", "name": "fd", "enabled": true, "frontend": {"domains": ["fd.test"]},
		"backend": {"targets": [{"id": "t1", "hostname": %q, "port": %s}], "root": "/"}}]`, host, port)
	cfg := filepath.Join(t.TempDir(), "routes.json")
	if err := os.WriteFile(cfg, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testkit.StartTorii(t, limitedBin(t, n), append([]string{"serve", "--listen", anyPort, "--admin", anyPort,
		"--echo", "off", "--data-dir", t.TempDir(), "--config", cfg, "--loops", "1"}, extra...)...)
	g := &gateway{Torii: p, t: t}
	if m := keyRe.FindStringSubmatch(p.Out.String()); m != nil {
		g.id, g.secret = m[1], m[2]
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	metrics := func() string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+p.Admin+"/metrics", nil)
		req.SetBasicAuth(g.id, g.secret)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("admin API: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("admin /metrics: %d %.500s", resp.StatusCode, b)
		}
		return string(b)
	}
	metrics()
	return g, metrics
}

// newConnServed returns a check that a new connection to the proxy at addr gets 200 for fd.test.
func newConnServed(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		k := &keptConn{c: c, br: bufio.NewReader(c)}
		if code, err := k.get("fd.test"); code != 200 {
			return fmt.Errorf("status %d, %v", code, err)
		}
		return nil
	}
}

var acceptErrorsRe = regexp.MustCompile(`(?m)^torii_accept_errors_total (\d+)`)

// TestFDExhaustionKeepsServing: torii serve under a 256-descriptor limit with --max-conns
// off, flooded with 300 idle connections, meets EMFILE in accept. Before the own acceptor,
// gnet shut the engine down on it and dropped every connection, and the process exited 0.
// Now: established connections keep being served, the admin API answers on its keep-alive
// connection, the refusals are counted and logged once, and once the flood goes away new
// connections are served again; SIGTERM still exits 0.
func TestFDExhaustionKeepsServing(t *testing.T) {
	g, metrics := startLimited(t, 256, "--max-conns", "-1")
	p := g.Torii
	if !strings.Contains(p.Out.String(), "hard=256") {
		t.Fatalf("the descriptor limit is not logged:\n%s", p.Out)
	}
	acceptErrors := func() int {
		t.Helper()
		m := acceptErrorsRe.FindStringSubmatch(metrics())
		if m == nil {
			t.Fatal("no torii_accept_errors_total in /metrics")
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if n := acceptErrors(); n != 0 {
		t.Fatalf("accept errors before the flood: %d", n)
	}
	// 40 keep-alive proxy clients (and the admin one) before the flood.
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
		testkit.Eventually(t, "a new connection served after the flood", newConnServed(p.Proxy))
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

// TestFDLimitAtScale (make fdlimit; skipped unless TORII_FDLIMIT_CONNS is set): torii serve
// under an RLIMIT_NOFILE of N (20000 in make fdlimit), with --max-conns derived from that limit
// (or TORII_FDLIMIT_MAXCONNS), gets N keep-alive connections that each made one request, then
// stay idle. The connections past --max-conns get 503 and are closed; none of it stops the
// engine: a sample of the established connections is served again, new connections are served
// once some close, the admin API answers, and SIGTERM exits 0. The client side is spread over
// holder processes (this test binary, TestFDLimitHolder) of at most 8000 connections each, so
// that no process needs more descriptors than the machine's hard limit.
func TestFDLimitAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TORII_FDLIMIT_CONNS"))
	if n <= 0 {
		t.Skip("TORII_FDLIMIT_CONNS is not set (make fdlimit)")
	}
	var extra []string
	if v := os.Getenv("TORII_FDLIMIT_MAXCONNS"); v != "" {
		extra = append(extra, "--max-conns", v)
	}
	g, metricsOf := startLimited(t, n, extra...)
	p := g.Torii

	const perHolder = 8000
	start := time.Now()
	var holders []*holder
	for i := 0; i < n; i += perHolder {
		holders = append(holders, startHolder(t, p.Proxy, min(perHolder, n-i), len(holders)))
	}
	var served, refused, failed int
	for _, h := range holders {
		var a, b, c int
		if _, err := fmt.Sscanf(h.line(t), "served %d refused %d failed %d", &a, &b, &c); err != nil {
			t.Fatal(err)
		}
		served, refused, failed = served+a, refused+b, failed+c
	}
	t.Logf("%d connections from %d processes in %v: %d served and kept, %d refused with 503, %d failed", n, len(holders),
		time.Since(start).Round(time.Millisecond), served, refused, failed)
	select {
	case <-p.Exited():
		t.Fatalf("torii exited: %v", p.Cmd.ProcessState)
	default:
	}
	if served == 0 {
		t.Fatal("no connection served")
	}
	// A sample of the established connections is served again.
	for _, h := range holders {
		h.say(t, "again")
		if got := h.line(t); !strings.HasPrefix(got, "again ok") {
			t.Fatalf("established connections: %s", got)
		}
	}
	m := metricsOf()
	t.Logf("after the flood: %s; %s", regexp.MustCompile(`(?m)^torii_client_connections_active \d+`).FindString(m),
		acceptErrorsRe.FindString(m))
	// Each holder closes 500 of its connections: new ones are served.
	for _, h := range holders {
		h.say(t, "drop")
		h.line(t)
	}
	testkit.Eventually(t, "a new connection served", newConnServed(p.Proxy))
	for _, line := range strings.Split(p.Out.String(), "\n") {
		if strings.Contains(line, "file descriptor limit") || strings.Contains(line, "client connection bound") ||
			strings.Contains(line, "cannot accept") {
			t.Log(line)
		}
	}
	for _, h := range holders {
		h.stop(t)
	}
	p.Stop()
}

// holder is a child process holding keep-alive connections to the proxy (TestFDLimitHolder).
type holder struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startHolder(t *testing.T, addr string, n, index int) *holder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFDLimitHolder$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TORII_FD_HOLDER="+addr, fmt.Sprintf("TORII_FD_HOLDER_N=%d", n),
		fmt.Sprintf("TORII_FD_HOLDER_IP=127.0.0.%d", 2+index))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(func() { _ = in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return h
}

// line returns the holder's next protocol line (lines starting with "holder: ").
func (h *holder) line(t *testing.T) string {
	t.Helper()
	for {
		l, err := h.out.ReadString('\n')
		if err != nil {
			t.Fatalf("holder: %v", err)
		}
		if v, ok := strings.CutPrefix(l, "holder: "); ok {
			return strings.TrimSpace(v)
		}
	}
}

func (h *holder) say(t *testing.T, cmd string) {
	t.Helper()
	if _, err := io.WriteString(h.in, cmd+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (h *holder) stop(t *testing.T) {
	_ = h.in.Close()
	_ = h.cmd.Wait()
}

// TestFDLimitHolder is the body of a holder process; it does nothing in a normal run. It
// opens TORII_FD_HOLDER_N connections to TORII_FD_HOLDER from TORII_FD_HOLDER_IP, makes one
// request on each, keeps the ones served and reports; then on "again" it requests again on a
// sample, on "drop" it closes 500, and it exits when its stdin closes.
func TestFDLimitHolder(t *testing.T) {
	addr := os.Getenv("TORII_FD_HOLDER")
	if addr == "" {
		t.Skip("only run as a holder process of TestFDLimitAtScale")
	}
	n, _ := strconv.Atoi(os.Getenv("TORII_FD_HOLDER_N"))
	ip := net.ParseIP(os.Getenv("TORII_FD_HOLDER_IP"))
	conns := make([]*keptConn, n)
	var served, refused, failed atomic.Int64
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					failed.Add(1)
					continue
				}
				k := &keptConn{c: c, br: bufio.NewReader(c)}
				switch code, _ := k.get("fd.test"); code {
				case 200:
					served.Add(1)
					conns[i] = k
				case 503:
					refused.Add(1)
					_ = c.Close()
				default:
					failed.Add(1)
					_ = c.Close()
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("holder: served %d refused %d failed %d\n", served.Load(), refused.Load(), failed.Load())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "again":
			ok, bad := 0, ""
			for i := 0; i < n && ok < 100; i += 17 {
				if k := conns[i]; k != nil {
					if code, err := k.get("fd.test"); code != 200 {
						bad = fmt.Sprintf("connection %d: %d %v", i, code, err)
						break
					}
					ok++
				}
			}
			if bad != "" {
				fmt.Printf("holder: again failed %s\n", bad)
			} else {
				fmt.Printf("holder: again ok %d\n", ok)
			}
		case "drop":
			dropped := 0
			for i, k := range conns {
				if k != nil && dropped < 500 {
					_ = k.c.Close()
					conns[i] = nil
					dropped++
				}
			}
			fmt.Printf("holder: dropped %d\n", dropped)
		}
	}
	for _, k := range conns {
		if k != nil {
			_ = k.c.Close()
		}
	}
}
