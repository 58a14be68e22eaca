package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The HTTPS scenarios (issue 17) are bench/tls-compare.sh's, run as the "tls" phase: the same
// script measures the same things whether it runs alone (`make bench-tls`) or here, and this
// phase only runs it after the plaintext proxies are stopped, reads its lines and renders them.
// Its placement is fixed by the script: proxies on CPU 0, backend and h2load on CPU 1.

// tlsScript is the script the phase runs, from the repository root.
const tlsScript = "bench/tls-compare.sh"

// tlsResults is what the script printed, by target (Torii, nginx, HAProxy).
type tlsResults struct {
	Rounds     int                    `json:"rounds"`
	Seconds    int                    `json:"seconds"`
	KeepAlive  map[string][]float64   `json:"keepalive_rps"`    // keep-alive small GET req/s, per round
	NewConns   map[string][]float64   `json:"new_conns_per_s"`  // new connections (one request each) per s
	Idle       map[string]tlsIdleConn `json:"idle"`             // RSS per idle TLS connection
	Failures   map[string][]string    `json:"failures"`         // h2load's request and status lines, per round
	Lines      []string               `json:"lines"`            // the script's output, verbatim
	Error      string                 `json:"error,omitempty"`  // why the phase stopped, if it did
	ScriptArgs string                 `json:"script,omitempty"` // how it was run
}

type tlsIdleConn struct {
	PerConnKiB float64 `json:"per_conn_kib"`
	SettledKiB float64 `json:"settled_per_conn_kib,omitempty"` // with IDLE_SETTLE
}

// tlsTargets maps the script's names to the report's.
var tlsTargets = map[string]string{"torii": torii, "nginx": nginx, "haproxy": haproxy}

// tlsRounds runs the script with the run's rounds and measurement length.
func (e *env) tlsRounds(ctx context.Context) {
	r := &tlsResults{Rounds: e.o.rounds, Seconds: e.scriptSecs()}
	e.res.TLS = r
	r.ScriptArgs, r.Error = e.runScript(ctx, "HTTPS scenarios", tlsScript, r.parse)
}

// scriptSecs is the run's measurement length in whole seconds, a script's SECS.
func (e *env) scriptSecs() int { return max(int(e.o.duration/time.Second), 1) }

// runScript runs one of the comparison scripts (bench/*-compare.sh) with the run's rounds and
// SECS, and returns its command line and why it failed ("" when it did not).
func (e *env) runScript(ctx context.Context, what, script string, parse func(io.Reader)) (cmdline, failure string) {
	secs := strconv.Itoa(e.scriptSecs())
	cmdline = fmt.Sprintf("SECS=%s bash %s %d", secs, script, e.o.rounds)
	logf("%s: %s", what, cmdline)
	if err := runLines(ctx, []string{"SECS=" + secs}, parse, "bash", script, strconv.Itoa(e.o.rounds)); err != nil {
		logf("%v", err)
		return cmdline, err.Error()
	}
	return cmdline, ""
}

// runLines runs a command from the repository root with env added to this process's, copies
// its output to stderr and hands its stdout to parse, which must read it to the end. Cancelling
// ctx sends TERM, so that a script's EXIT trap can stop the processes it started.
func runLines(ctx context.Context, env []string, parse func(io.Reader), name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("cannot run %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot run %s: %w", name, err)
	}
	tee := io.TeeReader(out, os.Stderr)
	parse(tee)
	_, _ = io.Copy(io.Discard, tee) // what parse left (a line too long for it): Wait needs the pipe drained
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// parse reads the script's output lines ("idle ...", "round ...").
func (r *tlsResults) parse(rd io.Reader) {
	r.KeepAlive, r.NewConns = map[string][]float64{}, map[string][]float64{}
	r.Idle, r.Failures = map[string]tlsIdleConn{}, map[string][]string{}
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		line := sc.Text()
		r.Lines = append(r.Lines, line)
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "idle":
			t, ok := tlsTargets[f[1]]
			if !ok {
				continue
			}
			var ic tlsIdleConn
			head, settled, _ := strings.Cut(line, " after ")
			ic.PerConnKiB = floatAfter(head, "per_conn_kib=")
			if settled != "" {
				ic.SettledKiB = floatAfter(settled, "per_conn_kib=")
			}
			r.Idle[t] = ic
		case len(f) >= 4 && f[0] == "round":
			t, ok := tlsTargets[f[2]]
			if !ok {
				continue
			}
			if v := floatAfter(line, "ka_req_s="); v > 0 {
				r.KeepAlive[t] = append(r.KeepAlive[t], v)
			}
			// A new-connection run that failed requests is no sample (its rate counts the
			// failures' time); the report lists it below the table.
			if v := floatAfter(line, "new_conn_s="); v > 0 && countBefore(line, " failed,") == 0 {
				r.NewConns[t] = append(r.NewConns[t], v)
			}
			if i := strings.LastIndex(line, " (requests:"); i >= 0 {
				r.Failures[t] = append(r.Failures[t], "round "+f[1]+": "+strings.TrimSuffix(line[i+2:], ")"))
			}
		}
	}
}

// floatAfter is the number that follows key in s (0 when none).
func floatAfter(s, key string) float64 {
	i := strings.Index(s, key)
	if i < 0 {
		return 0
	}
	s = s[i+len(key):]
	end := strings.IndexFunc(s, func(c rune) bool { return (c < '0' || c > '9') && c != '.' })
	if end >= 0 {
		s = s[:end]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return v
}

// markdown renders the HTTPS subsection with medians and ratios against nginx.
func (r *tlsResults) markdown(w func(format string, args ...any), verdict func(ok, known bool) string, known func(...float64) bool) {
	w("\n### HTTPS (TLS at the edge, `%s`)\n\n", tlsScript)
	w("Run as this comparison's \"tls\" phase after the plaintext proxies stopped: `%s` (alone: `make bench-tls`). "+
		"Same ECDSA P-256 certificate for Torii (`--listen-tls`), nginx (`listen ... ssl`) and HAProxy (`bind ... ssl crt`); "+
		"proxies on CPU 0, backend and h2load (`--h1`) on CPU 1; %d alternating rounds. Keep-alive: small GET over %s s; "+
		"new connections: one request each.\n\n", r.ScriptArgs, r.Rounds, strconv.Itoa(r.Seconds))
	if r.Error != "" {
		w("**The HTTPS phase did not finish:** %s\n\n", r.Error)
	}
	w("| target | keep-alive req/s (median) | min–max | vs nginx | new conn/s (median) | min–max | vs nginx | RSS per idle TLS conn | vs nginx |\n")
	w("|---|---|---|---|---|---|---|---|---|\n")
	kaN, newN := median(r.KeepAlive[nginx]), median(r.NewConns[nginx])
	memN := r.Idle[nginx].PerConnKiB
	for _, t := range targetOrder[1:] {
		ka, nc := median(r.KeepAlive[t]), median(r.NewConns[t])
		mem := "n/a"
		memRatio := "n/a"
		if ic, ok := r.Idle[t]; ok {
			mem = fmt.Sprintf("%.1f KiB", ic.PerConnKiB)
			if ic.SettledKiB > 0 {
				mem += fmt.Sprintf(" (settled %.1f)", ic.SettledKiB)
			}
			memRatio = ratio(ic.PerConnKiB, memN)
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label(t), num(ka, 0), spread(r.KeepAlive[t]), ratio(ka, kaN),
			num(nc, 0), spread(r.NewConns[t]), ratio(nc, newN), mem, memRatio)
	}
	kaT, newT := median(r.KeepAlive[torii]), median(r.NewConns[torii])
	w("\n- HTTPS keep-alive small GET, Torii ≥ nginx: %s (%s).\n", ratio(kaT, kaN), verdict(kaT >= kaN, known(kaT, kaN)))
	w("- New TLS connections per second, Torii ≥ 0.8× nginx: %s (%s).\n", ratio(newT, newN), verdict(newT >= 0.8*newN, known(newT, newN)))
	// A round whose h2load run failed requests says so: it is left out of the medians above,
	// never hidden.
	clean := true
	for _, t := range targetOrder[1:] {
		for _, f := range r.Failures[t] {
			if countBefore(f, " failed,") > 0 {
				clean = false
				w("- %s, new-connection run with failures, %s\n", label(t), f)
			}
		}
	}
	if clean && len(r.Failures) > 0 {
		w("- Every new-connection run: 0 failed requests.\n")
	}
}

// spread is "min–max" of xs, "n/a" when empty.
func spread(xs []float64) string { return spreadPrec(xs, 0) }

// spreadPrec is spread with prec decimals.
func spreadPrec(xs []float64, prec int) string {
	if len(xs) == 0 {
		return "n/a"
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return num(lo, prec) + "–" + num(hi, prec)
}

// countBefore is the integer just before word in s ("2000 failed," → 2000); 0 when none.
func countBefore(s, word string) int {
	i := strings.Index(s, word)
	if i < 0 {
		return 0
	}
	j := strings.LastIndexByte(s[:i], ' ')
	n, _ := strconv.Atoi(s[j+1 : i])
	return n
}
