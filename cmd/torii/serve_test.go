package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

// gateway is one "torii serve" process on free loopback ports, with its admin key.
type gateway struct {
	*testkit.Torii
	t          *testing.T
	id, secret string // the admin key
}

var keyRe = regexp.MustCompile(`clientId:\s+(\S+)\s+clientSecret:\s+(\S+)`)

// startGateway runs "torii serve" on dataDir with the proxy and the admin API on free ports
// and the echo backend on echo ("off", anyPort, or at a restart the address the first start
// reported: the seeded demo route stores it). It reads the admin key when one is printed.
func startGateway(t *testing.T, dataDir, echo string, extra ...string) *gateway {
	t.Helper()
	p := testkit.StartTorii(t, toriiBin, append([]string{"serve", "--listen", anyPort, "--admin", anyPort, "--echo", echo,
		"--data-dir", dataDir, "--loops", "1"}, extra...)...)
	g := &gateway{Torii: p, t: t}
	if m := keyRe.FindStringSubmatch(p.Out.String()); m != nil {
		g.id, g.secret = m[1], m[2]
	}
	return g
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
	r, err := http.NewRequest(method, "http://"+g.Admin+path, rd)
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

// TestServeEndToEnd runs the real binary: the seeded demo route, a route created through the
// admin API, metrics and live statistics, then a restart that keeps the state and the key.
func TestServeEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	g := startGateway(t, dataDir, anyPort)
	if g.id == "" || !strings.Contains(g.Out.String(), "curl -u "+g.id+":"+g.secret+" http://"+g.Admin+"/api/routes") {
		t.Fatalf("the admin key and its curl example were not printed: %s", g.Out.String())
	}

	resp, body := get(t, g.Proxy, "demo.torii.local", "/tour")
	if resp.StatusCode != 200 || !strings.Contains(body, `"service":"torii built-in echo"`) {
		t.Fatalf("demo route: %d %s", resp.StatusCode, body)
	}

	be := testkit.TextBackend(t, "created-through-admin")
	host, port, _ := net.SplitHostPort(be)
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"route_e2e","name":"e2e",
		"frontend":{"domains":["e2e.test"]},"backend":{"targets":[{"hostname":%q,"port":%s}]}}`, host, port))
	testkit.Eventually(t, "the created route proxies", func() error {
		if resp, body := get(t, g.Proxy, "e2e.test", "/"); resp.StatusCode != 200 || body != "created-through-admin" {
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
	get(t, g.Proxy, "e2e.test", "/exported-path")
	testkit.Eventually(t, "the gateway event is exported", func() error {
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
	testkit.Eventually(t, "/api/live counts the proxied requests", func() error {
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
	sse, _ := http.NewRequest("GET", "http://"+g.Admin+"/api/live/route_demo?every=100", nil)
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
	if res, err := http.Get("http://" + g.Admin + "/"); err != nil || res.StatusCode != http.StatusOK ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("the web UI is not served at /: %v %+v", err, res)
	} else {
		res.Body.Close()
	}
	if code, _ := g.api("GET", "/api/routes", nil); code != 200 {
		t.Errorf("list routes: %d", code)
	}

	// A restart on the same data directory keeps the routes and the key, and prints no new key.
	g.Stop()
	if !strings.Contains(g.Out.String(), "database closed") {
		t.Errorf("no orderly shutdown in the log: %s", g.Out.String())
	}
	g2 := startGateway(t, dataDir, g.Echo)
	if g2.id != "" {
		t.Fatalf("a new admin key was printed at restart")
	}
	g2.id, g2.secret = g.id, g.secret
	if resp, body := get(t, g2.Proxy, "e2e.test", "/"); body != "created-through-admin" {
		t.Fatalf("route after restart: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, g2.Proxy, "demo.torii.local", "/"); resp.StatusCode != 200 {
		t.Fatalf("demo route after restart: %d", resp.StatusCode)
	}
	g2.mustAPI(http.StatusOK, "GET", "/api/routes/route_e2e", nil)
	g2.Stop()
}

// TestServeHealthAlerts runs the real binary with fast health checks: a target whose health check
// fails becomes an alert exported by a data exporter, and comes back as another.
func TestServeHealthAlerts(t *testing.T) {
	var healthy atomic.Bool
	be := testkit.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	host, port, _ := net.SplitHostPort(be)

	g := startGateway(t, t.TempDir(), anyPort, "--health-interval", "100ms")
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
		testkit.Eventually(t, name+" exported", func() error {
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
	g.Stop()
}

// TestServeSigtermFinishesInFlight sends SIGTERM while a request waits on a slow backend: the
// request still gets its answer, and the process exits cleanly after it.
func TestServeSigtermFinishesInFlight(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	be := testkit.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "slow answer")
	}))
	host, port, _ := net.SplitHostPort(be)

	g := startGateway(t, t.TempDir(), anyPort)
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"route_slow","name":"slow",
		"frontend":{"domains":["slow.test"]},"backend":{"targets":[{"hostname":%q,"port":%s}]}}`, host, port))
	type result struct {
		status int
		body   string
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+g.Proxy+"/", nil)
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
	_ = g.Cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond) // the proxy is draining now
	close(release)
	if r := <-done; r.status != http.StatusOK || r.body != "slow answer" {
		t.Fatalf("in-flight request during shutdown: %d %q", r.status, r.body)
	}
	g.Stop()
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
	first, second := write("first.json", testkit.TextBackend(t, "first")), write("second.json", testkit.TextBackend(t, "second"))
	dataDir := t.TempDir()
	g := startGateway(t, dataDir, "off", "--config", first)
	if _, body := get(t, g.Proxy, "seed.test", "/"); body != "first" {
		t.Fatalf("seeded route: %q", body)
	}
	if resp, _ := get(t, g.Proxy, "demo.torii.local", "/"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the demo route was seeded along with --config: %d", resp.StatusCode)
	}
	g.Stop()
	g2 := startGateway(t, dataDir, "off", "--config", second)
	if _, body := get(t, g2.Proxy, "seed.test", "/"); body != "first" {
		t.Fatalf("a later --config replaced the stored routes: %q", body)
	}
	if !strings.Contains(g2.Out.String(), "initial configuration not imported") {
		t.Errorf("the ignored --config was not reported: %s", g2.Out.String())
	}
	g2.Stop()
}

// TestServeAdminPortInUse: when the admin API cannot listen, serve exits with an error that
// names the address, before it opens the database or starts the proxy.
func TestServeAdminPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", anyPort)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dataDir := t.TempDir()
	out, err := runTorii(t, "serve", "--listen", anyPort, "--admin", busy.Addr().String(), "--echo", "off", "--data-dir", dataDir)
	if err == nil || !strings.Contains(string(out), "cannot listen on "+busy.Addr().String()) {
		t.Fatalf("serve with a busy admin port: %v: %s", err, out)
	}
	if strings.Contains(string(out), "proxy engine listening") {
		t.Errorf("the proxy started although the admin port was busy: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "torii.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the database was opened although the admin port was busy: %v", err)
	}
}
