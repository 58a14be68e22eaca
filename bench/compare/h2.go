package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The HTTP/2 scenario (issue 18) is bench/h2-compare.sh's, run as the "h2" phase like the "tls"
// phase runs bench/tls-compare.sh: h2load -c 50 -m 10 (50 connections, 10 streams each), small
// GET over TLS with ALPN h2, Torii, nginx and HAProxy in alternating rounds. Its placement is
// the script's: proxies on CPU 0, backend and h2load on CPU 1.

// h2Script is the script the phase runs, from the repository root.
const h2Script = "bench/h2-compare.sh"

// h2Results is what the script printed, by target (Torii, nginx, HAProxy).
type h2Results struct {
	Rounds     int                 `json:"rounds"`
	Seconds    int                 `json:"seconds"`
	Load       string              `json:"load"`             // the load average the script saw at its start
	Runs       map[string][]h2Run  `json:"runs"`             // clean runs only
	Rejected   map[string][]string `json:"rejected"`         // runs left out of Runs, and why
	Lines      []string            `json:"lines"`            // the script's output, verbatim
	Error      string              `json:"error,omitempty"`  // why the phase stopped, if it did
	ScriptArgs string              `json:"script,omitempty"` // how it was run
}

// h2Run is one clean h2load run of one target.
type h2Run struct {
	Round int     `json:"round"`
	ReqS  float64 `json:"h2_rps"` // small GET req/s
}

// reqS is target's req/s, one per clean run.
func (r *h2Results) reqS(t string) []float64 {
	var out []float64
	for _, x := range r.Runs[t] {
		out = append(out, x.ReqS)
	}
	return out
}

// h2Rounds runs the script with the run's rounds and measurement length.
func (e *env) h2Rounds(ctx context.Context) {
	r := &h2Results{Rounds: e.o.rounds, Seconds: e.scriptSecs()}
	e.res.H2 = r
	r.ScriptArgs, r.Error = e.runScript(ctx, "HTTP/2 scenario", h2Script, r.parse)
}

// parse reads the script's lines: "# ...; load A B C" and
// "round R NAME h2_req_s=N proto=P failed=F [status codes: ...]". A run counts only when h2load
// negotiated h2, finished, and failed no request; any other is listed in Rejected.
func (r *h2Results) parse(rd io.Reader) {
	r.Runs, r.Rejected = map[string][]h2Run{}, map[string][]string{}
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		line := sc.Text()
		r.Lines = append(r.Lines, line)
		if _, l, ok := strings.Cut(line, "; load "); ok && strings.HasPrefix(line, "# ") {
			r.Load = l
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "round" {
			continue
		}
		t, ok := tlsTargets[f[2]]
		round, err := strconv.Atoi(f[1])
		if !ok || err != nil {
			continue
		}
		rps, _ := strconv.ParseFloat(token(f, "h2_req_s="), 64)
		var why string
		switch failed, hasFailed := tokenOK(f, "failed="); {
		case rps <= 0:
			why = "no req/s (h2load did not finish)"
		case token(f, "proto=") != "h2":
			why = "the protocol was not h2"
		case hasFailed && failed != "0": // absent: a script from before failed= was printed
			why = "h2load failed requests"
		}
		if why != "" {
			r.Rejected[t] = append(r.Rejected[t], fmt.Sprintf("round %d: %s: %s", round, why, line))
			continue
		}
		r.Runs[t] = append(r.Runs[t], h2Run{Round: round, ReqS: rps})
	}
}

// token is the value of the first field of f that starts with key ("" when none).
func token(f []string, key string) string {
	v, _ := tokenOK(f, key)
	return v
}

// tokenOK is token, and whether a field starts with key at all.
func tokenOK(f []string, key string) (string, bool) {
	for _, x := range f {
		if v, ok := strings.CutPrefix(x, key); ok {
			return v, true
		}
	}
	return "", false
}

// markdown renders the HTTP/2 subsection: medians and ratios against HAProxy (the faster of
// the two here, the target) and nginx, and the allocations per HTTP/2 request when
// the allocs phase measured them.
func (r *h2Results) markdown(w func(format string, args ...any), verdict func(ok, known bool) string, known func(...float64) bool, allocs []allocLine) {
	w("\n### HTTP/2 (issue 18, `%s`)\n\n", h2Script)
	w("Run as this comparison's \"h2\" phase after the plaintext proxies stopped: `%s` (alone: `bash %s`). "+
		"h2load -c 50 -m 10 (50 connections, 10 streams each), small GET over TLS with ALPN h2 for %d s; Torii with its defaults "+
		"(`--listen-tls`, HTTP/2 on the event loops), nginx (`listen ... ssl http2`), HAProxy (`bind ... ssl crt ... alpn h2,http/1.1`), "+
		"all forwarding HTTP/1.1 to one backend; proxies on CPU 0, backend and h2load on CPU 1; %d alternating rounds. "+
		"Load average at the script's start: %s.\n\n", r.ScriptArgs, h2Script, r.Seconds, r.Rounds, orNA(r.Load))
	if r.Error != "" {
		w("**The HTTP/2 phase did not finish:** %s\n\n", r.Error)
	}
	w("| target | h2 req/s (median) | min–max | runs | vs HAProxy | vs nginx |\n|---|---:|---:|---:|---:|---:|\n")
	hp, ng := median(r.reqS(haproxy)), median(r.reqS(nginx))
	for _, t := range targetOrder[1:] {
		v := median(r.reqS(t))
		w("| %s | %s | %s | %d | %s | %s |\n", label(t), num(v, 0), spread(r.reqS(t)), len(r.Runs[t]), ratio(v, hp), ratio(v, ng))
	}
	if rr := r.perRound(torii, haproxy); len(rr) > 0 {
		w("\nTorii/HAProxy per round (both runs clean): %s.\n", strings.Join(rr, ", "))
	}
	tv := median(r.reqS(torii))
	w("\n- HTTP/2 small GET req/s, Torii ≥ HAProxy: %s (%s).\n", ratio(tv, hp), verdict(tv >= hp, known(tv, hp)))
	h2a, h1a := findAlloc(allocs, "BenchmarkProxyH2Get"), findAlloc(allocs, "BenchmarkProxyGet")
	if h2a != nil {
		h1 := "not measured"
		if h1a != nil {
			h1 = fmt.Sprintf("%.0f allocs/op, %.0f B/op", h1a.AllocsPerOp, h1a.BytesPerOp)
		}
		w("- Allocations per HTTP/2 request (`%s`, whole process, one stream at a time on one h2c connection): "+
			"%.0f allocs/op, %.0f B/op, %.0f ns/op; HTTP/1.1 baseline (BenchmarkProxyGet): %s.\n",
			coreAllocsCmd, h2a.AllocsPerOp, h2a.BytesPerOp, h2a.NsPerOp, h1)
	} else {
		w("- Allocations per HTTP/2 request: not measured in this run (phase \"allocs\").\n")
	}
	for _, t := range targetOrder[1:] {
		for _, why := range r.Rejected[t] {
			w("- %s, run left out: %s\n", label(t), why)
		}
	}
}

// perRound is "R: a/b" for each round where both targets ran clean.
func (r *h2Results) perRound(a, b string) []string {
	var out []string
	for _, x := range r.Runs[a] {
		for _, y := range r.Runs[b] {
			if x.Round == y.Round && y.ReqS > 0 {
				out = append(out, fmt.Sprintf("%d: %.2f", x.Round, x.ReqS/y.ReqS))
			}
		}
	}
	return out
}

// orNA is s, or "n/a" when empty.
func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

// findAlloc is the benchmark line named name, nil when absent.
func findAlloc(ls []allocLine, name string) *allocLine {
	for i := range ls {
		if ls[i].Name == name {
			return &ls[i]
		}
	}
	return nil
}
