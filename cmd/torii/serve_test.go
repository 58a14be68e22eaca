package main

import (
	"bufio"
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
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// gateway is one "torii serve" process on free loopback ports.
type gateway struct {
	t                  *testing.T
	cmd                *exec.Cmd
	out                *lockedBuffer
	proxy, admin, echo string
	dataDir            string
	id, secret         string // the admin key
	done               chan struct{}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var keyRe = regexp.MustCompile(`clientId:\s+(\S+)\s+clientSecret:\s+(\S+)`)

// startGateway runs "torii serve" on dataDir with fresh ports (the echo port is kept across
// restarts of the same gateway, since the seeded demo route stores it) and waits until both the
// proxy and the admin API answer.
func startGateway(t *testing.T, dataDir, echo string, extra ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, out: &lockedBuffer{}, proxy: freeAddr(t), admin: freeAddr(t), echo: echo, dataDir: dataDir, done: make(chan struct{})}
	g.cmd = exec.Command(toriiBin, append([]string{"serve", "--listen", g.proxy, "--admin", g.admin, "--echo", echo,
		"--data-dir", dataDir, "--loops", "1"}, extra...)...)
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		<-g.done
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get("http://" + g.admin + "/health")
		if err == nil {
			res.Body.Close()
			if c, err := net.DialTimeout("tcp", g.proxy, time.Second); err == nil && res.StatusCode == http.StatusOK {
				_ = c.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("torii serve did not start: %s", g.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := keyRe.FindStringSubmatch(g.out.String()); m != nil {
		g.id, g.secret = m[1], m[2]
	}
	return g
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gateway) stop() {
	g.t.Helper()
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(15 * time.Second):
		g.t.Fatalf("torii serve did not exit on SIGTERM: %s", g.out.String())
	}
	if code := g.cmd.ProcessState.ExitCode(); code != 0 {
		g.t.Fatalf("exit code %d after SIGTERM: %s", code, g.out.String())
	}
}

// api calls the admin API with the admin key; body is JSON-encoded unless it is a string.
func (g *gateway) api(method, path string, body any) (int, []byte) {
	g.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, ok := body.(string)
		if !ok {
			b, err := json.Marshal(body)
			if err != nil {
				g.t.Fatal(err)
			}
			raw = string(b)
		}
		rd = strings.NewReader(raw)
	}
	r, err := http.NewRequest(method, "http://"+g.admin+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.SetBasicAuth(g.id, g.secret)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(r)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (g *gateway) mustAPI(want int, method, path string, body any) []byte {
	g.t.Helper()
	code, b := g.api(method, path, body)
	if code != want {
		g.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, b)
	}
	return b
}

// eventually retries f every 20 ms for at most 5 s.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeEndToEnd runs the real binary: the seeded demo route, a route created through the
// admin API, metrics and live statistics, then a restart that keeps the state and the key.
func TestServeEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	g := startGateway(t, dataDir, freeAddr(t))
	if g.id == "" || !strings.Contains(g.out.String(), "curl -u "+g.id+":"+g.secret+" http://"+g.admin+"/api/routes") {
		t.Fatalf("the admin key and its curl example were not printed: %s", g.out.String())
	}

	resp, body := get(t, g.proxy, "demo.torii.local", "/tour")
	if resp.StatusCode != 200 || !strings.Contains(body, `"service":"torii built-in echo"`) {
		t.Fatalf("demo route: %d %s", resp.StatusCode, body)
	}

	be := backend(t, "created-through-admin")
	host, port, _ := net.SplitHostPort(be)
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"route_e2e","name":"e2e",
		"frontend":{"domains":["e2e.test"]},"backend":{"targets":[{"hostname":%q,"port":%s}]}}`, host, port))
	eventually(t, "the created route proxies", func() error {
		if resp, body := get(t, g.proxy, "e2e.test", "/"); resp.StatusCode != 200 || body != "created-through-admin" {
			return fmt.Errorf("%d %q", resp.StatusCode, body)
		}
		return nil
	})

	// A data exporter created through the API receives the GatewayEvents of proxied requests.
	events := filepath.Join(t.TempDir(), "events.ndjson")
	g.mustAPI(http.StatusCreated, "POST", "/api/data-exporter-configs", map[string]any{
		"id": "exp_e2e", "type": "file", "enabled": true, "groupSize": 1, "groupDuration": 20,
		"filtering": map[string]any{"include": []any{map[string]any{"@type": "GatewayEvent"}}},
		"config":    map[string]any{"path": events},
	})
	get(t, g.proxy, "e2e.test", "/exported-path")
	eventually(t, "the gateway event is exported", func() error {
		b, _ := os.ReadFile(events)
		if !bytes.Contains(b, []byte(`"@type":"GatewayEvent"`)) || !bytes.Contains(b, []byte("/exported-path")) {
			return fmt.Errorf("exporter file holds %q", b)
		}
		return nil
	})

	// Metrics and live statistics count the proxied requests per route.
	m := string(g.mustAPI(http.StatusOK, "GET", "/metrics", nil))
	if !strings.Contains(m, "torii_admin_writes_total") || !strings.Contains(m, `torii_http_requests_total{route="route_demo",class="2xx"} 1`) {
		t.Errorf("/metrics lacks the admin or proxy metrics: %.2000s", m)
	}
	// Live statistics come from a sampler running every second.
	eventually(t, "/api/live counts the proxied requests", func() error {
		var live struct {
			Calls  uint64 `json:"calls"`
			Routes map[string]struct {
				Calls uint64 `json:"calls"`
			} `json:"routes"`
		}
		err := json.Unmarshal(g.mustAPI(http.StatusOK, "GET", "/api/live", nil), &live)
		if err != nil || live.Calls < 3 || live.Routes["route_e2e"].Calls < 2 || live.Routes["route_demo"].Calls != 1 {
			return fmt.Errorf("%v %+v", err, live)
		}
		return nil
	})
	g.mustAPI(http.StatusNotFound, "GET", "/api/live/route_nope", nil)
	// The per-route stream sends server-sent events of the route's statistics.
	sse, _ := http.NewRequest("GET", "http://"+g.admin+"/api/live/route_demo?every=100", nil)
	sse.SetBasicAuth(g.id, g.secret)
	if res, err := (&http.Client{Timeout: 5 * time.Second}).Do(sse); err != nil {
		t.Errorf("/api/live/route_demo: %v", err)
	} else {
		line, _ := bufio.NewReader(res.Body).ReadString('\n')
		res.Body.Close()
		if res.Header.Get("Content-Type") != "text/event-stream" || !strings.HasPrefix(line, `data: {"calls":`) {
			t.Errorf("/api/live/route_demo: %s %q", res.Header.Get("Content-Type"), line)
		}
	}
	if res, err := http.Get("http://" + g.admin + "/"); err != nil || res.StatusCode != http.StatusOK ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("the web UI is not served at /: %v %+v", err, res)
	} else {
		res.Body.Close()
	}
	if code, _ := g.api("GET", "/api/routes", nil); code != 200 {
		t.Errorf("list routes: %d", code)
	}

	// A restart on the same data directory keeps the routes and the key, and prints no new key.
	g.stop()
	if !strings.Contains(g.out.String(), "database closed") {
		t.Errorf("no orderly shutdown in the log: %s", g.out.String())
	}
	g2 := startGateway(t, dataDir, g.echo)
	if g2.id != "" {
		t.Fatalf("a new admin key was printed at restart")
	}
	g2.id, g2.secret = g.id, g.secret
	if resp, body := get(t, g2.proxy, "e2e.test", "/"); body != "created-through-admin" {
		t.Fatalf("route after restart: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, g2.proxy, "demo.torii.local", "/"); resp.StatusCode != 200 {
		t.Fatalf("demo route after restart: %d", resp.StatusCode)
	}
	g2.mustAPI(http.StatusOK, "GET", "/api/routes/route_e2e", nil)
	g2.stop()
}

// TestServeHealthAlerts runs the real binary with fast health checks: a target whose health check
// fails becomes an alert exported by a data exporter, and comes back as another.
func TestServeHealthAlerts(t *testing.T) {
	var healthy atomic.Bool
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	host, port, _ := net.SplitHostPort(ln.Addr().String())

	g := startGateway(t, t.TempDir(), freeAddr(t), "--health-interval", "100ms")
	alerts := filepath.Join(t.TempDir(), "alerts.ndjson")
	g.mustAPI(http.StatusCreated, "POST", "/api/data-exporter-configs", map[string]any{
		"id": "exp_alerts", "type": "file", "enabled": true, "groupSize": 1, "groupDuration": 20,
		"filtering": map[string]any{"include": []any{map[string]any{"@type": "AlertEvent"}}},
		"config":    map[string]any{"path": alerts},
	})
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"route_hc","name":"hc",
		"frontend":{"domains":["hc.test"]},"backend":{"targets":[{"id":"t_hc","hostname":%q,"port":%s}],
		"health_check":{"enabled":true,"url":"/health","timeout":1000}}}`, host, port))
	waitAlert := func(name string) {
		t.Helper()
		eventually(t, name+" exported", func() error {
			b, _ := os.ReadFile(alerts)
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, `"alert":"`+name+`"`) && strings.Contains(line, `"routeId":"route_hc"`) {
					return nil
				}
			}
			return fmt.Errorf("alerts file holds %q", b)
		})
	}
	waitAlert("TargetUnhealthyAlert")
	healthy.Store(true)
	waitAlert("TargetHealthyAlert")
	g.stop()
}

// TestServeSigtermFinishesInFlight sends SIGTERM while a request waits on a slow backend: the
// request still gets its answer, and the process exits cleanly after it.
func TestServeSigtermFinishesInFlight(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "slow answer")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	host, port, _ := net.SplitHostPort(ln.Addr().String())

	g := startGateway(t, t.TempDir(), freeAddr(t))
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"route_slow","name":"slow",
		"frontend":{"domains":["slow.test"]},"backend":{"targets":[{"hostname":%q,"port":%s}]}}`, host, port))
	type result struct {
		status int
		body   string
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+g.proxy+"/", nil)
		req.Host = "slow.test"
		res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			done <- result{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{res.StatusCode, string(b)}
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the backend")
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond) // the proxy is draining now
	close(release)
	if r := <-done; r.status != http.StatusOK || r.body != "slow answer" {
		t.Fatalf("in-flight request during shutdown: %d %q", r.status, r.body)
	}
	g.stop()
}

// TestServeConfigSeedsOnce: --config is the initial configuration of an empty database; later
// starts keep what the database holds.
func TestServeConfigSeedsOnce(t *testing.T) {
	write := func(name, be string) string {
		host, port, _ := net.SplitHostPort(be)
		path := filepath.Join(t.TempDir(), name)
		routes := fmt.Sprintf(`[{"id":"route_seed","name":"seed","frontend":{"domains":["seed.test"]},
			"backend":{"targets":[{"hostname":%q,"port":%s}]}}]`, host, port)
		if err := os.WriteFile(path, []byte(routes), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	first, second := write("first.json", backend(t, "first")), write("second.json", backend(t, "second"))
	dataDir := t.TempDir()
	g := startGateway(t, dataDir, "off", "--config", first)
	if _, body := get(t, g.proxy, "seed.test", "/"); body != "first" {
		t.Fatalf("seeded route: %q", body)
	}
	if resp, _ := get(t, g.proxy, "demo.torii.local", "/"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the demo route was seeded along with --config: %d", resp.StatusCode)
	}
	g.stop()
	g2 := startGateway(t, dataDir, "off", "--config", second)
	if _, body := get(t, g2.proxy, "seed.test", "/"); body != "first" {
		t.Fatalf("a later --config replaced the stored routes: %q", body)
	}
	if !strings.Contains(g2.out.String(), "initial configuration not imported") {
		t.Errorf("the ignored --config was not reported: %s", g2.out.String())
	}
	g2.stop()
}

// TestServeAdminPortInUse: when the admin API cannot listen, serve stops the proxy too and
// exits with an error that names the address.
func TestServeAdminPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, toriiBin, "serve", "--listen", freeAddr(t), "--admin", busy.Addr().String(),
		"--echo", "off", "--data-dir", t.TempDir()).CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "cannot listen on "+busy.Addr().String()) {
		t.Fatalf("serve with a busy admin port: %v (ctx %v): %s", err, ctx.Err(), out)
	}
}
