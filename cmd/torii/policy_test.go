package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

// getWithKey sends GET path to the proxy with Host host and, unless id is empty, the Otoroshi
// client id and secret headers; it answers the status.
func getWithKey(t *testing.T, addr, host, path, id, secret string) int {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if id != "" {
		req.Header.Set("Otoroshi-Client-Id", id)
		req.Header.Set("Otoroshi-Client-Secret", secret)
	}
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// keyedRoute creates a route on backend be that requires an API key, and a key for it.
func keyedRoute(t *testing.T, g *gateway, be string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(be)
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"keyed","name":"keyed",
		"frontend":{"domains":["keyed.test"]},"backend":{"targets":[{"hostname":%q,"port":%s}]},
		"plugins":[{"enabled":true,"plugin":"cp:otoroshi.next.plugins.ApikeyCalls","config":{}}]}`, host, port))
	g.mustAPI(http.StatusCreated, "POST", "/api/apikeys", map[string]any{
		"clientId": "key_e2e", "clientSecret": "secret-e2e-0123456789", "clientName": "e2e",
		"authorizedEntities": []string{"route_keyed"}, "dailyQuota": 1000,
	})
}

func dailyCalls(t *testing.T, g *gateway) int64 {
	t.Helper()
	var q struct {
		CurrentCallsPerDay int64 `json:"currentCallsPerDay"`
	}
	if err := json.Unmarshal(g.mustAPI(http.StatusOK, "GET", "/api/apikeys/key_e2e/quotas", nil), &q); err != nil {
		t.Fatal(err)
	}
	return q.CurrentCallsPerDay
}

// TestServeAPIKeyAndQuotasAcrossRestart runs the real binary: a route that requires an API key
// refuses calls without one or with a wrong secret and serves the key; the calls are counted,
// and the daily count survives a SIGTERM and a restart.
func TestServeAPIKeyAndQuotasAcrossRestart(t *testing.T) {
	dataDir := t.TempDir()
	g := startGateway(t, dataDir, "off")
	be := testkit.TextBackend(t, "keyed-backend")
	keyedRoute(t, g, be)

	testkit.Eventually(t, "the keyed route serves its key", func() error {
		if code := getWithKey(t, g.Proxy, "keyed.test", "/", "key_e2e", "secret-e2e-0123456789"); code != 200 {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
	if code := getWithKey(t, g.Proxy, "keyed.test", "/", "", ""); code != http.StatusBadRequest && code != http.StatusUnauthorized {
		t.Errorf("no key: %d", code)
	}
	if code := getWithKey(t, g.Proxy, "keyed.test", "/", "key_e2e", "wrong"); code != http.StatusBadRequest && code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	const calls = 7
	for range calls - 1 {
		if code := getWithKey(t, g.Proxy, "keyed.test", "/", "key_e2e", "secret-e2e-0123456789"); code != 200 {
			t.Fatalf("keyed call: %d", code)
		}
	}
	if n := dailyCalls(t, g); n != calls {
		t.Fatalf("daily calls before restart: %d, want %d", n, calls)
	}

	// SIGTERM flushes the counters; the next start loads them.
	g.Stop()
	g2 := startGateway(t, dataDir, "off")
	g2.id, g2.secret = g.id, g.secret
	if n := dailyCalls(t, g2); n != calls {
		t.Fatalf("daily calls after restart: %d, want %d", n, calls)
	}
	if code := getWithKey(t, g2.Proxy, "keyed.test", "/", "key_e2e", "secret-e2e-0123456789"); code != 200 {
		t.Fatalf("keyed call after restart: %d", code)
	}
	if n := dailyCalls(t, g2); n != calls+1 {
		t.Fatalf("daily calls after one more call: %d, want %d", n, calls+1)
	}
	g2.Stop()
}
