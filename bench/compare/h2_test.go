package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestH2Parse reads bench/h2-compare.sh's lines (the format its echo lines write), leaves out
// the runs that are no HTTP/2 sample, and renders the HTTP/2 subsection with the engine's
// allocation figure.
func TestH2Parse(t *testing.T) {
	out := `# 2026-12-06T19:32:00Z rounds=3 SECS=5 CONNS=50 STREAMS=10
# 2 CPUs, AMD EPYC; load 15.6 14.3 14.1
round 1 torii h2_req_s=60139.20 proto=h2 failed=0 [status codes: 300696 2xx, 0 3xx, 0 4xx, 0 5xx]
round 1 nginx h2_req_s=20953.00 proto=h2 failed=0 [status codes: 104765 2xx, 0 3xx, 0 4xx, 0 5xx]
round 1 haproxy h2_req_s=36279.00 proto=h2 failed=0 [status codes: 181395 2xx, 0 3xx, 0 4xx, 0 5xx]
round 2 torii h2_req_s=63540.00 proto=h2 failed=0 [status codes: 317700 2xx]
round 2 nginx h2_req_s=28221.00 proto=http/1.1 failed=0 [status codes: 141105 2xx]
round 2 haproxy h2_req_s=35857.00 proto=h2 failed=12 [status codes: 179273 2xx]
round 3 torii h2_req_s= proto= failed= []
round 3 nginx h2_req_s=19968.00 proto=h2 failed=0 [status codes: 99840 2xx]
round 3 haproxy h2_req_s=31513.00 proto=h2 failed=0 [status codes: 157565 2xx]
round 4 haproxy h2_req_s=32000.00 proto=h2 [status codes: 160000 2xx]
round 4 unknown h2_req_s=1.00 proto=h2 failed=0 []
`
	r := &h2Results{Rounds: 3, Seconds: 5, ScriptArgs: "SECS=5 bash bench/h2-compare.sh 3"}
	r.parse(strings.NewReader(out))
	if r.Load != "15.6 14.3 14.1" {
		t.Fatalf("load %q", r.Load)
	}
	if got := r.reqS(torii); len(got) != 2 || got[0] != 60139.2 || got[1] != 63540 {
		t.Fatalf("Torii %v (a run without req/s is no sample)", got)
	}
	if got := r.reqS(nginx); len(got) != 2 || got[1] != 19968 {
		t.Fatalf("nginx %v (an HTTP/1.1 run is no HTTP/2 sample)", got)
	}
	// Round 4 has no failed= (a script from before it was printed): counted.
	if got := r.reqS(haproxy); len(got) != 3 || got[1] != 31513 || got[2] != 32000 {
		t.Fatalf("HAProxy %v (a run with failed requests is no sample)", got)
	}
	if n := len(r.Rejected[torii]) + len(r.Rejected[nginx]) + len(r.Rejected[haproxy]); n != 3 {
		t.Fatalf("rejected %v", r.Rejected)
	}
	if len(r.Lines) != 13 {
		t.Fatalf("%d lines kept, want 13", len(r.Lines))
	}

	allocs := parseBench(`goos: linux
BenchmarkProxyGet-2     	   20000	     16380 ns/op	       0 B/op	       0 allocs/op
BenchmarkProxyH2Get-2   	   20000	     17102 ns/op	      36 B/op	       0 allocs/op
PASS
`)
	res := &results{H2: r, CoreAllocs: allocs}
	res.Machine.Load, res.Machine.Cores = "15.6 14.3 14.1", 2
	md := res.markdown()
	mustContain(t, md,
		"### HTTP/2 (issue 18, `bench/h2-compare.sh`)",
		"Load average at the script's start: 15.6 14.3 14.1.",
		"| Torii | 61840 | 60139–63540 | 2 | 1.93x | 3.02x |", // 61839.6/32000, /20460.5
		"| HAProxy | 32000 | 31513–36279 | 3 | 1.00x | 1.56x |",
		"Torii/HAProxy per round (both runs clean): 1: 1.66.",
		"HTTP/2 small GET req/s, Torii ≥ HAProxy: 1.93x (met)",
		"Allocations per HTTP/2 request (`"+coreAllocsCmd+"`, whole process, one stream at a time on one h2c connection): 0 allocs/op, 36 B/op, 17102 ns/op; HTTP/1.1 baseline (BenchmarkProxyGet): 0 allocs/op, 0 B/op.",
		"| BenchmarkProxyH2Get | 17102 | 36 | 0 |",
		"- Torii, run left out: round 3: no req/s (h2load did not finish)",
		"- nginx, run left out: round 2: the protocol was not h2",
		"- HAProxy, run left out: round 2: h2load failed requests",
	)

	// Not measured is said, never rendered as a verdict.
	var lines []string
	empty := &h2Results{Error: "bash bench/h2-compare.sh 3: exit status 1"}
	empty.parse(strings.NewReader(""))
	w := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
	empty.markdown(w, func(ok, known bool) string { return fmt.Sprint(ok, known) }, func(vs ...float64) bool { return false }, nil)
	md = strings.Join(lines, "")
	mustContain(t, md, "**The HTTP/2 phase did not finish:** bash bench/h2-compare.sh 3: exit status 1",
		"| Torii | n/a | n/a | 0 | n/a | n/a |", "Torii ≥ HAProxy: n/a (false false)",
		"Allocations per HTTP/2 request: not measured in this run")
}

// TestGRPCParse reads bench/grpcbench's lines and renders the gRPC subsection.
func TestGRPCParse(t *testing.T) {
	out := `gRPC unary, 64 B payloads, 32 calls in flight over 4 connections, 3 x 5s per side, torii --loops 1  (torii on CPU 0)
round 1: direct 20000 calls/s, torii 5000 calls/s, ratio 0.25
round 2: direct 16000 calls/s, torii 6400 calls/s, ratio 0.40
round 3: direct 30000 calls/s, torii 9000 calls/s, ratio 0.30
median ratio torii/direct: 0.30 (min 0.25, max 0.40)
`
	r := &grpcResults{Rounds: 3, Seconds: 5, Load: "9.1 8.0 7.5", Command: "taskset -c 1 bench/results/bin/grpcbench -rounds 3"}
	r.parse(strings.NewReader(out))
	if len(r.Runs) != 3 || r.Runs[1] != (grpcRun{Round: 2, Direct: 16000, Torii: 6400}) {
		t.Fatalf("runs %+v", r.Runs)
	}
	if !strings.Contains(r.Header, "(torii on CPU 0)") || len(r.Lines) != 5 {
		t.Fatalf("header %q, %d lines", r.Header, len(r.Lines))
	}
	md := (&results{GRPC: r}).markdown()
	mustContain(t, md,
		"### gRPC unary calls through Torii against direct (issue 18, `./bench/grpcbench`)",
		"Load average when the phase started: 9.1 8.0 7.5.",
		"| 2 | 16000 | 6400 | 0.40 |",
		"| median | 20000 | 6400 | **0.30** |",
		"0.30x of direct, median of 3 interleaved pairs (min–max 0.25–0.40)",
	)
	bad := &grpcResults{Error: "taskset -c 1 grpcbench: exit status 1"}
	bad.parse(strings.NewReader("round 1: direct 0 calls/s, torii 0 calls/s, ratio NaN\n"))
	md = (&results{GRPC: bad}).markdown()
	if len(bad.Runs) != 0 || !strings.Contains(md, "**The gRPC phase did not finish:**") || !strings.Contains(md, "n/a of direct, median of 0") {
		t.Fatalf("failed run rendered as a figure: %+v\n%s", bad.Runs, md)
	}
}
