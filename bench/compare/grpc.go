package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The gRPC scenario (issue 18) is bench/grpcbench's (`make bench-grpc`), run as the "grpc"
// phase: unary calls/s through `torii proxy --h2c --to h2c://...` against the same calls made
// directly to the grpc-go backend, rounds alternating direct and Torii. Here grpcbench (its
// clients and backend) is pinned to the load CPU and torii to the proxy CPU, like the other
// phases; the figure is the ratio of each interleaved pair.

// grpcPkg is the command the phase builds and runs.
const grpcPkg = "./bench/grpcbench"

// grpcResults is what grpcbench printed.
type grpcResults struct {
	Rounds  int       `json:"rounds"`
	Seconds int       `json:"seconds"`
	Load    string    `json:"load"`   // load average when the phase started
	Header  string    `json:"header"` // grpcbench's description of the run
	Runs    []grpcRun `json:"runs"`
	Lines   []string  `json:"lines"`           // grpcbench's output, verbatim
	Error   string    `json:"error,omitempty"` // why the phase stopped, if it did
	Command string    `json:"command"`
}

// grpcRun is one round: direct then through Torii.
type grpcRun struct {
	Round  int     `json:"round"`
	Direct float64 `json:"direct_calls_s"`
	Torii  float64 `json:"torii_calls_s"`
}

// grpcRounds builds grpcbench and runs it with the run's rounds and measurement length.
func (e *env) grpcRounds(ctx context.Context) {
	secs := max(int(e.o.duration/time.Second), 1)
	r := &grpcResults{Rounds: e.o.rounds, Seconds: secs, Load: loadAverage()}
	e.res.GRPC = r
	if why, bad := e.res.Unavailable[torii]; bad {
		r.Error = "Torii is unavailable: " + why
		return
	}
	bin := filepath.Join(e.bin, "grpcbench")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, grpcPkg).CombinedOutput(); err != nil {
		r.Error = fmt.Sprintf("cannot build %s: %v: %s", grpcPkg, err, firstLine(string(out)))
		logf("%s", r.Error)
		return
	}
	args := []string{"-c", strconv.Itoa(e.o.loadCPU), bin, "-rounds", strconv.Itoa(e.o.rounds), "-duration", strconv.Itoa(secs) + "s",
		"-torii", filepath.Join(e.bin, "torii"), "-torii-cpu", strconv.Itoa(e.o.proxyCPU)}
	r.Command = "taskset " + strings.Join(args, " ")
	logf("gRPC scenario: %s", r.Command)
	if err := runLines(ctx, nil, r.parse, "taskset", args...); err != nil {
		r.Error = err.Error()
		logf("%s", r.Error)
	}
}

// parse reads grpcbench's lines: "gRPC unary, ..." and
// "round N: direct X calls/s, torii Y calls/s, ratio R".
func (r *grpcResults) parse(rd io.Reader) {
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		line := sc.Text()
		r.Lines = append(r.Lines, line)
		if strings.HasPrefix(line, "gRPC unary,") {
			r.Header = line
			continue
		}
		head, rest, ok := strings.Cut(line, ": direct ")
		n, err := strconv.Atoi(strings.TrimPrefix(head, "round "))
		if !ok || err != nil || !strings.HasPrefix(head, "round ") {
			continue
		}
		d, t := floatAfter(rest, ""), floatAfter(rest, " torii ")
		if d > 0 && t > 0 {
			r.Runs = append(r.Runs, grpcRun{Round: n, Direct: d, Torii: t})
		}
	}
}

// markdown renders the gRPC subsection: each round's pair and the median of their ratios.
func (r *grpcResults) markdown(w func(format string, args ...any)) {
	w("\n### gRPC unary calls through Torii against direct (issue 18, `%s`)\n\n", grpcPkg)
	w("Run as this comparison's \"grpc\" phase: `%s` (alone: `make bench-grpc`). A grpc-go server of the interop TestService "+
		"(h2c) and grpc-go clients in one process pinned to the load CPU; `torii proxy --loops 1 --h2c --to h2c://...` pinned "+
		"to the proxy CPU; each round measures direct then through Torii for %d s. Direct, the clients and the server share the "+
		"load CPU; through Torii the proxy has its own CPU besides. Load average when the phase started: %s.\n\n",
		r.Command, r.Seconds, orNA(r.Load))
	if r.Header != "" {
		w("grpcbench: %s.\n\n", strings.TrimSpace(r.Header))
	}
	if r.Error != "" {
		w("**The gRPC phase did not finish:** %s\n\n", r.Error)
	}
	w("| round | direct calls/s | Torii calls/s | Torii/direct |\n|---:|---:|---:|---:|\n")
	var ds, ts, rs []float64
	for _, x := range r.Runs {
		ds, ts, rs = append(ds, x.Direct), append(ts, x.Torii), append(rs, x.Torii/x.Direct)
		w("| %d | %s | %s | %.2f |\n", x.Round, num(x.Direct, 0), num(x.Torii, 0), x.Torii/x.Direct)
	}
	w("| median | %s | %s | **%s** |\n", num(median(ds), 0), num(median(ts), 0), num(median(rs), 2))
	w("\n- gRPC unary calls/s through Torii against a direct call (reported; the issue sets no target): %s of direct, "+
		"median of %d interleaved pairs (min–max %s).\n", ratioOf(median(rs)), len(rs), spreadPrec(rs, 2))
}

// ratioOf formats a ratio already divided, "n/a" for NaN.
func ratioOf(v float64) string {
	if n := num(v, 2); n != "n/a" {
		return n + "x"
	}
	return "n/a"
}
