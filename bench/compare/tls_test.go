package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestTLSParse reads bench/tls-compare.sh's lines (the format its echo lines write) and renders
// the HTTPS subsection.
func TestTLSParse(t *testing.T) {
	out := `# 2026-12-06T17:30:00Z rounds=2 SECS=5 KA_CONNS=64 NEW_CONNS=2000 IDLE=2000
# 2 CPUs, Some CPU; load 0.10 0.20 0.30
idle torii rss_before_kib=18000 rss_after_kib=84000 per_conn_kib=33.0 after 150s: rss_kib=32600 per_conn_kib=7.3 (open 2000)
idle nginx rss_before_kib=3000 rss_after_kib=36200 per_conn_kib=16.6 (open 2000)
idle haproxy rss_before_kib=9000 rss_after_kib=40000 per_conn_kib=15.5 (open 2000)
round 1 torii ka_req_s=27251.30 [status codes: 136000 2xx, 0 3xx, 0 4xx, 0 5xx] new_conn_s=491.20 (requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout; status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx)
round 1 nginx ka_req_s=15214.00 [status codes: 76000 2xx, 0 3xx, 0 4xx, 0 5xx] new_conn_s=302.00 (requests: 2000 total; status codes: 2000 2xx)
round 1 haproxy ka_req_s=18555.00 [status codes: 92000 2xx] new_conn_s=394.00 (requests: 2000 total; status codes: 2000 2xx)
round 2 torii ka_req_s=25000.00 [status codes: 125000 2xx] new_conn_s=500.00 (requests: 2000 total, 0 failed; status codes: 2000 2xx)
round 2 nginx ka_req_s=16000.00 [status codes: 80000 2xx] new_conn_s=310.00 (requests: 2000 total; status codes: 2000 2xx)
round 2 haproxy ka_req_s=18000.00 [] new_conn_s= (requests: ; )
`
	bad := &tlsResults{}
	bad.parse(strings.NewReader("round 1 torii ka_req_s=20710.40 [x] new_conn_s=0.00 (requests: 2000 total, 2000 started, 0 done, 0 succeeded, 2000 failed, 2000 errored, 0 timeout; status codes: 0 2xx)\n" +
		"round 1 nginx ka_req_s=26753.80 [x] new_conn_s=11.93 (requests: 2000 total, 2000 started, 840 done, 840 succeeded, 1160 failed, 1160 errored, 0 timeout; status codes: 840 2xx)\n"))
	if len(bad.NewConns[torii])+len(bad.NewConns[nginx]) != 0 {
		t.Fatalf("a failed run counted: %v", bad.NewConns)
	}
	var lines []string
	bad.markdown(func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }, func(ok, known bool) string { return "" }, func(...float64) bool { return true })
	if md := strings.Join(lines, ""); !strings.Contains(md, "Torii, new-connection run with failures, round 1: requests: 2000 total, 2000 started, 0 done, 0 succeeded, 2000 failed") {
		t.Fatalf("failures hidden:\n%s", md)
	}
	r := &tlsResults{Rounds: 2, Seconds: 5, ScriptArgs: "SECS=5 bash bench/tls-compare.sh 2"}
	r.parse(strings.NewReader(out))
	if got := r.KeepAlive[torii]; len(got) != 2 || got[0] != 27251.3 || got[1] != 25000 {
		t.Fatalf("keep-alive %v", got)
	}
	if got := r.NewConns[haproxy]; len(got) != 1 || got[0] != 394 {
		t.Fatalf("new conns (an empty value is no sample) %v", got)
	}
	if ic := r.Idle[torii]; ic.PerConnKiB != 33 || ic.SettledKiB != 7.3 {
		t.Fatalf("idle %+v", ic)
	}
	if ic := r.Idle[nginx]; ic.PerConnKiB != 16.6 || ic.SettledKiB != 0 {
		t.Fatalf("idle %+v", ic)
	}
	if f := r.Failures[torii]; len(f) != 2 || !strings.HasPrefix(f[1], "round 2: requests: 2000 total, 0 failed;") {
		t.Fatalf("failures %q", f)
	}
	res := &results{TLS: r}
	res.Machine.Load, res.Machine.Cores = "0.10 0.20 0.30", 2
	md := res.markdown()
	mustContain(t, md,
		"### HTTPS (TLS at the edge, `bench/tls-compare.sh`)",
		"| Torii | 26126 | 25000–27251 | 1.67x | 496 | 491–500 | 1.62x | 33.0 KiB (settled 7.3) | 1.99x |", // 26125.65/15607, 495.6/306
		"| nginx | 15607 | 15214–16000 | 1.00x |",
		"HTTPS keep-alive small GET, Torii ≥ nginx: 1.67x (met)",
		"New TLS connections per second, Torii ≥ 0.8× nginx: 1.62x (met)",
		"Every new-connection run: 0 failed requests.",
	)
}

// mustContain fails t for each of wants the rendered markdown md lacks.
func mustContain(t *testing.T, md string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
