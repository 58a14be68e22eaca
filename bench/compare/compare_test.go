package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseOnly(t *testing.T) {
	f := func(list string, run, skip []string, wantErr bool) {
		t.Helper()
		only, err := parseOnly(list)
		if (err != nil) != wantErr {
			t.Fatalf("parseOnly(%q) error %v, want error %v", list, err, wantErr)
		}
		o := options{only: only}
		for _, p := range run {
			if !o.runs(p) {
				t.Errorf("-only %q: phase %s does not run", list, p)
			}
		}
		for _, p := range skip {
			if o.runs(p) {
				t.Errorf("-only %q: phase %s runs", list, p)
			}
		}
	}
	f("memory", []string{"memory"}, []string{"open", "closed", "generators", "allocs"}, false)
	f("open, closed", []string{"open", "closed"}, []string{"memory", "allocs"}, false)
	f("h2,grpc", []string{"h2", "grpc"}, []string{"tls", "closed", "allocs", "memory"}, false)
	f("memory,latency", nil, nil, true)
	f("", nil, nil, true)
	if o := (options{}); !o.runs("allocs") {
		t.Error("without -only, a phase does not run")
	}
}

func TestToriiCommand(t *testing.T) {
	f := func(vars []string, want string) {
		t.Helper()
		e := &env{o: &options{toriiEnv: vars}, bin: "bin"}
		if got := strings.Join(e.toriiCommand("proxy", "--loops", "1"), " "); got != want {
			t.Errorf("toriiCommand with %q = %q, want %q", vars, got, want)
		}
	}
	f(nil, filepath.Join("bin", "torii")+" proxy --loops 1")
	f([]string{"GOMAXPROCS=1", "GODEBUG=gctrace=1"}, "env GOMAXPROCS=1 GODEBUG=gctrace=1 "+filepath.Join("bin", "torii")+" proxy --loops 1")
}

func TestMedian(t *testing.T) {
	f := func(xs []float64, want float64) {
		t.Helper()
		got := median(xs)
		if got != want && !(math.IsNaN(want) && math.IsNaN(got)) {
			t.Errorf("median(%v) = %v, want %v", xs, got, want)
		}
	}
	f(nil, math.NaN())
	f([]float64{3}, 3)
	f([]float64{5, 1, 3}, 3)
	f([]float64{4, 1, 3, 2}, 2.5)
	xs := []float64{9, 1, 5}
	median(xs)
	if xs[0] != 9 {
		t.Error("median reordered its input")
	}
}

func TestUpdateSection(t *testing.T) {
	sec := beginMarker + "\nnew\n" + endMarker
	f := func(doc, want string) {
		t.Helper()
		if got := updateSection(doc, sec); got != want {
			t.Errorf("updateSection(%q) =\n%q\nwant\n%q", doc, got, want)
		}
	}
	f("", sec+"\n")
	f("# Benchmarks", "# Benchmarks\n\n"+sec+"\n")
	f("# Benchmarks\n\n"+beginMarker+"\nold\n"+endMarker+"\n\n## Others' section\n",
		"# Benchmarks\n\n"+sec+"\n\n## Others' section\n")
	// An end marker before the begin marker is not a section: append.
	f(endMarker+" "+beginMarker, endMarker+" "+beginMarker+"\n\n"+sec+"\n")
}

func TestParseBench(t *testing.T) {
	out := "goos: linux\nBenchmarkDirect-2   \t   20000\t    163619 ns/op\t      23 B/op\t       0 allocs/op\n" +
		"BenchmarkTorii-2    \t   20000\t    123177.5 ns/op\t         0.0125 objs/req\t      48 B/op\t       1 allocs/op\nPASS\n"
	got := parseBench(out)
	want := []allocLine{{"BenchmarkDirect", 163619, 23, 0, -1}, {"BenchmarkTorii", 123177.5, 48, 1, 0.0125}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("parseBench = %+v, want %+v", got, want)
	}
}

func TestConfigs(t *testing.T) {
	n := nginxConfig("/tmp/x", 8081, 8083, 9000, 10000, 20000)
	for _, want := range []string{"worker_processes 1;", "daemon off;", "access_log off;", "keepalive 256;",
		"server 127.0.0.1:9000;", "listen 127.0.0.1:8081", "proxy_http_version 1.1;", `proxy_set_header Connection "";`,
		"worker_connections 11024;", "worker_rlimit_nofile 20000;", "pid /tmp/x/nginx.pid;",
		"proxy_set_header X-Forwarded-For $remote_addr;", "proxy_set_header Host $http_host;"} {
		if !strings.Contains(n, want) {
			t.Errorf("nginx config lacks %q:\n%s", want, n)
		}
	}
	h := haproxyConfig(8082, 8084, 9000, 10000)
	for _, want := range []string{"nbthread 1", "maxconn 11024", "bind 127.0.0.1:8082", "server s1 127.0.0.1:9000", "http-reuse always",
		"option forwardfor", "set-header X-Forwarded-Host %[req.hdr(host)]"} {
		if !strings.Contains(h, want) {
			t.Errorf("haproxy config lacks %q:\n%s", want, h)
		}
	}
	// The API-key port checks the secret header; the plain port does not.
	keyed := n[strings.Index(n, "listen 127.0.0.1:8083"):]
	if !strings.Contains(keyed, `if ($http_otoroshi_client_secret != "benchsecret") {`) || !strings.Contains(keyed, "return 401;") ||
		strings.Count(n, "otoroshi_client_secret") != 1 {
		t.Errorf("nginx config does not check the key on 8083 only:\n%s", n)
	}
	keyedH := h[strings.Index(h, "bind 127.0.0.1:8084"):]
	if !strings.Contains(keyedH, "http-request deny deny_status 401 unless { req.hdr(otoroshi-client-secret) -m str benchsecret }") ||
		strings.Count(h, "otoroshi-client-secret") != 1 {
		t.Errorf("haproxy config does not check the key on 8084 only:\n%s", h)
	}
	var routes []struct {
		Frontend struct{ Domains []string }
		Backend  struct {
			Targets []struct {
				Hostname string
				Port     int
			}
		}
		Plugins []struct {
			Enabled bool
			Plugin  string
		}
	}
	if err := json.Unmarshal([]byte(toriiKeyRoutes(9000)), &routes); err != nil {
		t.Fatalf("Torii routes are not JSON: %v", err)
	}
	if len(routes) != 3 || len(routes[2].Plugins) != 10 || routes[2].Frontend.Domains[0] != pluginsHost || len(routes[1].Plugins) != 0 || len(routes[1].Frontend.Domains) != 1 || routes[1].Frontend.Domains[0] != plainHost ||
		len(routes[0].Frontend.Domains) != 1 || routes[0].Frontend.Domains[0] != "*" ||
		len(routes[0].Backend.Targets) != 1 || routes[0].Backend.Targets[0].Port != 9000 ||
		len(routes[0].Plugins) != 1 || !routes[0].Plugins[0].Enabled || routes[0].Plugins[0].Plugin != "cp:otoroshi.next.plugins.ApikeyCalls" {
		t.Errorf("Torii routes: %+v", routes)
	}
	var key map[string]any
	if err := json.Unmarshal([]byte(benchKeyJSON()), &key); err != nil || key["clientSecret"] != "benchsecret" || key["dailyQuota"] != 1e7 {
		t.Errorf("bench key %s: %v", benchKeyJSON(), err)
	}
	if strings.Contains(h, "\n    log ") || strings.Contains(h, "option httplog") {
		t.Errorf("haproxy config logs:\n%s", h)
	}
}

// TestMarkdown renders a small result set and checks the derived numbers:
// medians, ratios, the added p99 and the per-connection RSS.
func TestMarkdown(t *testing.T) {
	r := &results{
		Started: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), Rounds: 3, Duration: 5 * time.Second,
		Conns: 64, Rate: 5000, OpenConns: 16, OpenDur: 5 * time.Second, LoadCPU: 1,
		Unavailable: map[string]string{haproxy + " (API key)": "a call without the key got 200"},
		Closed: map[string]map[string][]sample{"serve": {torii: {{RPS: 64}}}, "apikey": {
			torii: {{RPS: 60}, {RPS: 61}, {RPS: 62}},
			nginx: {{RPS: 44}},
		}, "small": {
			direct:  {{RPS: 100, GenCPU: 10}, {RPS: 120, GenCPU: 12}, {RPS: 110, GenCPU: 11}},
			torii:   {{RPS: 60, ProxyCPU: 20}, {RPS: 66, ProxyCPU: 21}, {RPS: 65, ProxyCPU: 19}},
			nginx:   {{RPS: 50}, {RPS: 40}, {RPS: 45}},
			haproxy: {{RPS: 55}, {RPS: 60}, {RPS: 58}},
		}},
		Open: map[string][]sample{
			direct: {{P99: 100}, {P99: 90}, {P99: 95}},
			torii:  {{P99: 150}, {P99: 140}, {P99: 130}},
			nginx:  {{P99: 200}, {P99: 210}, {P99: 220}},
		},
		Mem: map[string]memSample{torii: {IdleKiB: 10000, ConnsKiB: 40000, Conns: 10000}, toriiServe: {IdleKiB: 20000, ConnsKiB: 35000, Conns: 10000}},
	}
	r.Machine.Load, r.Machine.Cores = "3.50 1.00 0.50", 2
	md := r.markdown()
	for _, want := range []string{
		beginMarker, endMarker,
		"| small GET (32 B body) | Torii | 65 | 60–66 |", "| 1.44x | 1.12x |", // 65/45, 65/58
		"| small GET + API key & quota | Torii | 61 | 60–62 |", "| small GET + API key & quota | nginx | 44 |",
		"API-key cost: 4.7% of throughput against the same process without a key, 6.2% against the plain small GET", // 1 − 61/64, 1 − 61/65
		"API-key cost < 10% of Torii's throughput (issue 6), small GET with key and quota vs the same `torii serve` without a key: 4.7% (met)",
		"**HAProxy was not measured with an API key:** a call without the key got 200",
		"| Torii | 0 | 0.0 | 140.0 | 0.0 | 45.0 µs | 0.0 | 0 | saturated", // median 140 − median 95; 0 req/s < 5000
		"| Torii | 10000 | 10000 | 40000 | 3.00 KiB |",
		"| Torii serve | 20000 | 10000 | 35000 | 1.50 KiB |",
		"Torii ≥ 1.3× nginx in req/s, small GET: 1.44x (met)",
		"Torii ≥ 1.0× HAProxy in req/s, small GET: 1.12x (met)",
		"(not measured).", // HAProxy has no open-loop data
		"3.00 KiB (met)",
		"Warning: the machine was shared during this run",
		"loadgen 11.00 µs/req (against the backend directly) vs Torii 20.00 µs/req (met)",
		"| nginx | n/a | 0.00 |", // no proxy CPU samples
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestShared(t *testing.T) {
	f := func(load string, cores int, want bool) {
		t.Helper()
		if got := shared(load, cores); got != want {
			t.Errorf("shared(%q, %d) = %v, want %v", load, cores, got, want)
		}
	}
	f("0.10 0.20 0.30", 2, false)
	f("1.01 0.20 0.30", 2, true)
	f("", 2, false)
	f("x", 2, false)
}

func TestLookPathAndProcStats(t *testing.T) {
	if _, err := lookPath("definitely-not-a-tool-xyz"); err == nil {
		t.Error("lookPath found a missing tool")
	}
	st, err := treeStat(os.Getpid())
	if err != nil || st.rssKiB <= 0 {
		t.Fatalf("treeStat(self) = %+v, %v", st, err)
	}
	p, err := startProc(t.TempDir(), "sleeper", 0, 0, "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	if kids := children(os.Getpid()); len(kids) == 0 {
		t.Errorf("children(self) found none while %d runs", p.pid())
	}
	p.stop()
	if !p.exited() {
		t.Fatal("stop returned before the process exited")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p.log), "sleeper.log")); err != nil {
		t.Fatal(err)
	}
}
