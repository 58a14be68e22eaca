// Command loadgen is Torii's HTTP/1.1 load generator (engine in
// bench/internal/load). Closed loop over N keep-alive connections with
// optional pipelining, or open loop at a fixed rate with coordinated
// omission corrected. It prints a live line per second to stderr, a summary
// to stdout, and optionally a JSON report and an SVG percentile plot.
//
//	loadgen -c 64 -d 10s http://127.0.0.1:8080/
//	loadgen -c 16 -rate 5000 -d 10s -json out.json -svg out.svg http://127.0.0.1:8080/
//	loadgen -c 8 -method POST -body-size 1024 -H 'Otoroshi-Client-Id: k' http://127.0.0.1:8080/api
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/metrics"
	"strings"
	"syscall"
	"time"

	"github.com/torii-gateway/torii/bench/internal/load"
	"github.com/torii-gateway/torii/bench/internal/plot"
)

type headerFlags []load.Header

func (h *headerFlags) String() string { return fmt.Sprint(*h) }
func (h *headerFlags) Set(s string) error {
	hd, err := load.ParseHeader(s)
	if err != nil {
		return err
	}
	*h = append(*h, hd)
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// run is the whole command, with its arguments and outputs as parameters.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var headers headerFlags
	conns := fs.Int("c", 64, "keep-alive connections")
	pipeline := fs.Int("pipeline", 1, "closed loop: requests in flight per connection")
	duration := fs.Duration("d", 10*time.Second, "run time (0: until -n requests)")
	requests := fs.Int64("n", 0, "total requests (0: until -d)")
	rate := fs.Float64("rate", 0, "open loop: requests per second over all connections (0: closed loop)")
	timeout := fs.Duration("timeout", load.DefaultTimeout, "per-request timeout")
	method := fs.String("method", "GET", "request method")
	body := fs.String("body", "", "request body")
	bodySize := fs.Int("body-size", 0, "request body of this many bytes (instead of -body)")
	fs.Var(&headers, "H", "extra header \"Name: value\" (repeatable)")
	jsonOut := fs.String("json", "", "write the JSON report to this file (- for stdout)")
	svgOut := fs.String("svg", "", "write the latency percentile plot to this SVG file")
	quiet := fs.Bool("q", false, "no progress lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadgen [flags] http://host:port/path")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("want exactly one URL, got %d arguments", fs.NArg())
	}
	target := fs.Arg(0)
	payload := []byte(*body)
	if *bodySize > 0 {
		payload = []byte(strings.Repeat("x", *bodySize))
	}
	req, addr, err := load.BuildRequest(strings.ToUpper(*method), target, headers, payload)
	if err != nil {
		return err
	}
	cfg := load.Config{
		Addr: addr, Request: req, Head: strings.EqualFold(*method, "HEAD"),
		Connections: *conns, Pipeline: *pipeline, Duration: *duration, Requests: *requests,
		Rate: *rate, Timeout: *timeout,
	}
	if !*quiet {
		cfg.Progress = stderr
	}

	cpu0, allocs0 := cpuTime(), heapAllocs()
	res, err := load.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep := load.NewReport(res, target, cpuTime()-cpu0, heapAllocs()-allocs0)
	printSummary(stdout, &rep)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, stdout, &rep); err != nil {
			return err
		}
	}
	if *svgOut != "" {
		f, err := os.Create(*svgOut)
		if err != nil {
			return fmt.Errorf("cannot create SVG file: %w", err)
		}
		title := fmt.Sprintf("%s %s, %s loop, %d connections", *method, target, rep.Mode, rep.Connections)
		err = plot.WriteSVG(f, title, []plot.Series{{Name: target, Points: load.Points(rep.Distribution)}})
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("cannot close SVG file: %w", cerr)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func printSummary(w io.Writer, r *load.Report) {
	fmt.Fprintf(w, "%s: %s loop, %d connections, pipeline %d", r.Target, r.Mode, r.Connections, r.Pipeline)
	if r.Mode == "open" {
		fmt.Fprintf(w, ", rate %.0f/s", r.Rate)
	}
	fmt.Fprintf(w, "\n  %d responses (%d 2xx) in %.2fs = %.0f req/s, %d body bytes\n",
		r.Responses, r.OK, r.DurationS, r.RPS, r.BodyBytes)
	l := r.Latency
	fmt.Fprintf(w, "  latency µs: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (mean %.1f)\n",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	e := r.Errors
	fmt.Fprintf(w, "  errors: connect %d, timeout %d, read %d, write %d, protocol %d, non-2xx %v\n",
		e.Connect, e.Timeout, e.Read, e.Write, e.Protocol, e.Status)
	fmt.Fprintf(w, "  generator: %.3f CPU s, %.2f CPU µs/req, %.3f allocs/req\n", r.CPUSeconds, r.CPUPerRequest, r.AllocsPerReq)
}

func writeJSON(path string, stdout io.Writer, r *load.Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode report: %w", err)
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
	} else {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	return nil
}

// cpuTime returns the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapAllocs returns the cumulative count of heap objects allocated.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
