package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

// needTool returns the path of a Debian tool the test needs (tools/deps.sh installs it); it
// fails the test when it is missing, so that a machine without it does not pass silently.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (Debian package prometheus; run tools/deps.sh): %v", name, err)
	}
	return p
}

// startMetricsGateway runs torii with one route that has seen traffic and returns it.
func startMetricsGateway(t *testing.T) *gateway {
	t.Helper()
	g := startGateway(t, t.TempDir(), anyPort)
	be := testkit.TextBackend(t, "metrics")
	host, port, _ := net.SplitHostPort(be)
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"route_prom","name":"prom",
		"frontend":{"domains":["prom.test"]},"backend":{"targets":[{"hostname":%q,"port":%s}]}}`, host, port))
	testkit.Eventually(t, "the created route proxies", func() error {
		if resp, body := get(t, g.Proxy, "prom.test", "/"); resp.StatusCode != 200 || body != "metrics" {
			return fmt.Errorf("%d %q", resp.StatusCode, body)
		}
		return nil
	})
	get(t, g.Proxy, "nowhere.test", "/") // a 404: the unmatched-request series
	return g
}

// TestMetricsPassPromtool checks a real scrape with Debian's promtool, which refuses duplicate
// series, misplaced HELP/TYPE lines and bad names (Prometheus refuses such a scrape entirely).
func TestMetricsPassPromtool(t *testing.T) {
	promtool := needTool(t, "promtool")
	g := startMetricsGateway(t)
	body := g.mustAPI(http.StatusOK, "GET", "/metrics", nil)
	for _, fam := range []string{"go_goroutines ", "process_cpu_seconds_total "} {
		if n := strings.Count(string(body), "\n"+fam); n != 1 {
			t.Errorf("%s is written %d times, want once", fam, n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if !strings.Contains(string(body), `torii_http_requests_total{route="route_prom",class="2xx"} 1`) {
		t.Fatalf("the scrape lacks the route's series: %.3000s", body)
	}
}

// TestPrometheusScrapesTorii runs a real Prometheus server on loopback that scrapes the admin
// API's /metrics (with the admin key) every 200 ms, and queries one per-route series back.
// Bounded: Prometheus gets 60 s to answer, then is killed.
func TestPrometheusScrapesTorii(t *testing.T) {
	prom := needTool(t, "prometheus")
	g := startMetricsGateway(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 200ms
  scrape_timeout: 150ms
scrape_configs:
  - job_name: torii
    metrics_path: /metrics
    basic_auth:
      username: %q
      password: %q
    static_configs:
      - targets: [%q]
`, g.id, g.secret, g.Admin)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out testkit.Buffer
	cmd := exec.CommandContext(ctx, prom, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	query := func(q string) (string, error) {
		res, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  [2]any            `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
			return "", err
		}
		if r.Status != "success" || len(r.Data.Result) != 1 {
			return "", fmt.Errorf("status %s, %d results", r.Status, len(r.Data.Result))
		}
		v, _ := r.Data.Result[0].Value[1].(string)
		return v, nil
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		v, err := query(`torii_http_requests_total{route="route_prom",class="2xx"}`)
		if err == nil && v == "1" {
			break
		}
		if time.Now().After(deadline) {
			up, uerr := query(`up{job="torii"}`)
			t.Fatalf("Prometheus did not return the route's series: %v (value %q); up=%q (%v)\n%s", err, v, up, uerr, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Every sample of the scrape was accepted: Prometheus's own count of them is positive and
	// the target is up.
	if up, err := query(`up{job="torii"}`); err != nil || up != "1" {
		t.Fatalf("up = %q (%v)", up, err)
	}
}
