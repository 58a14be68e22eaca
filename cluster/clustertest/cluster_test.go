package clustertest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/cluster"
	"github.com/torii-gateway/torii/internal/testkit"
)

// TestClusterSecurityAndPropagation: the state is refused without the cluster key or with a
// wrong one (401) and never logged; a worker with a wrong key gets nothing; route changes reach
// the workers by long poll (the p99 of the propagation is logged; the 100-change run is
// TestClusterPropagation100).
func TestClusterSecurityAndPropagation(t *testing.T) {
	l := startLeader(t, t.TempDir(), "")
	be := testkit.TextBackend(t, "backend")
	keyedRoute(t, l, "sec", "sec.test", be, "key_sec", map[string]int64{"dailyQuota": 1000000})

	for _, c := range []struct{ id, secret string }{{"", ""}, {"cluster_nope", "nope"}, {l.adminKey.ClientID, "wrong"}} {
		req, _ := http.NewRequest("GET", "http://"+l.Admin+"/api/cluster/state", nil)
		if c.id != "" {
			req.SetBasicAuth(c.id, c.secret)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("state with key %q/%q: HTTP %d, want 401", c.id, c.secret, resp.StatusCode)
		}
	}
	// The intruder knows the cluster key's id, not its secret (a wrong id would count as an
	// admin key failure and, after ten, lock this address out of the admin API: the admin's
	// brute-force protection, which the test's own admin calls share).
	good, err := cluster.ReadKeyFile(l.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad-key")
	if err := os.WriteFile(bad, []byte("clientId: "+good.ClientID+"\nclientSecret: wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	intruder := startWorker(t, l.Admin, bad, t.TempDir(), "intruder", "")

	// A webhook data exporter on the leader runs on the workers too: a call served by a worker
	// reaches it (the leader's own proxy serves nothing here), and the worker's access log.
	hook := newHookServer(t)
	l.mustAPI(t, http.StatusCreated, "POST", "/api/data-exporter-configs", map[string]any{
		"id": "hook", "name": "hook", "type": "webhook", "enabled": true, "groupSize": 1, "groupDuration": 20,
		"filtering": map[string]any{"include": []any{map[string]any{"@type": "GatewayEvent"}, map[string]any{"@type": "AlertEvent"}}, "exclude": []any{}},
		"config":    map[string]any{"url": hook.URL},
	})
	// A route whose only target refuses connections, with a circuit breaker that opens at the
	// first error: the worker's alert reaches the exporter too.
	dead := testkit.RefusedAddr(t)
	dh, dp, _ := net.SplitHostPort(dead)
	l.mustAPI(t, http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"dead","name":"dead",
		"frontend":{"domains":["dead.test"]},"backend":{"targets":[{"hostname":%q,"port":%s}],
		"client":{"retries":0,"max_errors":1,"sample_interval":60000}}}`, dh, dp))

	workers := make([]*testkit.Torii, 3)
	proxies := make([]string, 3)
	accessLog := filepath.Join(t.TempDir(), "w2-access.log")
	for i := range workers {
		var extra []string
		if i == 1 {
			extra = []string{"--access-log", accessLog}
		}
		workers[i] = startWorker(t, l.Admin, l.keyFile, t.TempDir(), fmt.Sprintf("w%d", i+1), "", extra...)
		proxies[i] = workers[i].Proxy
	}
	waitServing(t, proxies, "sec.test", "key_sec", http.StatusOK)
	if code := get(intruder.Proxy, "sec.test", "key_sec"); code != http.StatusNotFound {
		t.Fatalf("a worker with a wrong cluster key answered %d, want 404 (no state)", code)
	}
	if !contains(intruder.Out, "refused the cluster key") {
		t.Fatalf("the intruder's log does not say the key was refused:\n%s", intruder.Out)
	}

	req, _ := http.NewRequest("GET", "http://"+proxies[1]+"/exported-by-w2", nil)
	req.Host = "sec.test"
	req.Header.Set("Otoroshi-Client-Id", "key_sec")
	req.Header.Set("Otoroshi-Client-Secret", "secret-key_sec-0123456789")
	if resp, err := client.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	testkit.Eventually(t, "the worker's event at the leader's webhook exporter", func() error {
		if !hook.has(`/exported-by-w2`) {
			return fmt.Errorf("not received; the webhook got %d bodies", hook.count())
		}
		return nil
	})
	testkit.Eventually(t, "the worker's circuit breaker alert at the leader's webhook exporter", func() error {
		if code := get(proxies[1], "dead.test", ""); code != http.StatusBadGateway && code != http.StatusServiceUnavailable {
			return fmt.Errorf("dead.test: HTTP %d, not routed to its dead target yet", code)
		}
		if !hook.has("CircuitBreakerOpenedAlert") {
			return fmt.Errorf("no alert; the webhook got %d bodies", hook.count())
		}
		return nil
	})
	testkit.Eventually(t, "the call in the worker's access log", func() error {
		b, _ := os.ReadFile(accessLog)
		if !strings.Contains(string(b), "/exported-by-w2") {
			return fmt.Errorf("access log:\n%s", b)
		}
		return nil
	})

	// Members: the leader lists the three workers.
	var names []string
	testkit.Eventually(t, "three members listed", func() error {
		_, body := l.api(t, "GET", "/api/cluster/members", nil)
		names = names[:0]
		for _, n := range []string{"w1", "w2", "w3"} {
			if strings.Contains(string(body), `"name":"`+n+`"`) {
				names = append(names, n)
			}
		}
		if len(names) != 3 {
			return fmt.Errorf("members %s", body)
		}
		return nil
	})
	metrics := string(l.mustAPI(t, http.StatusOK, "GET", "/metrics", nil))
	if !strings.Contains(metrics, `torii_cluster_member_last_seen_seconds{name="w1"`) {
		t.Fatalf("leader /metrics lacks the members:\n%s", metrics)
	}

	p := propagate(t, l, proxies, 10)
	t.Logf("propagation of %d changes to 3 workers: p50 %s, max %s", len(p), p[len(p)/2], p[len(p)-1])

	// Guessing the admin key through the cluster endpoints meets the admin API's limit (429 after
	// ten failures from an address, even with the right admin key); the cluster key still works.
	// (Last: the test's own admin calls come from this address.)
	codes := map[int]int{}
	for range 12 {
		codes[stateStatus(t, l.Admin, l.adminKey.ClientID, "guess")]++
	}
	if codes[http.StatusTooManyRequests] == 0 || stateStatus(t, l.Admin, l.adminKey.ClientID, l.adminKey.Secret) != http.StatusTooManyRequests {
		t.Fatalf("12 wrong admin secrets: %v; want 429 from the limit on, for the right one too", codes)
	}
	if code := stateStatus(t, l.Admin, good.ClientID, good.Secret); code != http.StatusOK {
		t.Fatalf("the cluster key after the admin lockout: %d, want 200", code)
	}

	// The state holds the key's secret: it never appears in any log.
	for _, out := range []fmt.Stringer{l.Out, intruder.Out, workers[0].Out, workers[1].Out, workers[2].Out} {
		if contains(out, "secret-key_sec") {
			t.Fatalf("a log holds the API key secret:\n%s", out)
		}
	}
}

// propagate makes n route changes on l (the route's domain changes each time) and returns the
// sorted times from the admin API's answer until every proxy serves the new domain.
func propagate(t *testing.T, l *leader, proxies []string, n int) []time.Duration {
	t.Helper()
	be := testkit.TextBackend(t, "propagated")
	host, port, _ := strings.Cut(strings.TrimPrefix(be, "http://"), ":")
	l.mustAPI(t, http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"prop","name":"prop",
		"frontend":{"domains":["prop-0.test"]},"backend":{"targets":[{"hostname":%q,"port":%s}]}}`, host, port))
	waitServing(t, proxies, "prop-0.test", "", http.StatusOK)
	var times []time.Duration
	for i := 1; i <= n; i++ {
		dom := fmt.Sprintf("prop-%d.test", i)
		l.mustAPI(t, http.StatusOK, "PATCH", "/api/routes/prop", fmt.Sprintf(`[{"op":"replace","path":"/frontend/domains","value":[%q]}]`, dom))
		start := time.Now()
		pending := slices.Clone(proxies)
		for len(pending) > 0 {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("change %d not served by %v after 10s", i, pending)
			}
			pending = slices.DeleteFunc(pending, func(p string) bool { return get(p, dom, "") == http.StatusOK })
			if len(pending) > 0 {
				time.Sleep(time.Millisecond)
			}
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	return times
}

// stateStatus answers the status of GET /api/cluster/state with these credentials.
func stateStatus(t *testing.T, admin, id, secret string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+admin+"/api/cluster/state", nil)
	req.SetBasicAuth(id, secret)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// hookServer is a loopback webhook receiver: it keeps the bodies posted to it.
type hookServer struct {
	URL    string
	mu     sync.Mutex
	bodies []string
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

func (h *hookServer) has(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.bodies, func(b string) bool { return strings.Contains(b, s) })
}

func (h *hookServer) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}
