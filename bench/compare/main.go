// Command compare is `make bench-compare`: it measures Torii against nginx
// and HAProxy on this machine, side by side, and writes the result table to
// stdout and into BENCHMARKS.md between the bench-compare markers.
//
// What it does, in order:
//
//  1. installs nginx, haproxy and wrk from Debian when missing (as root);
//  2. builds bin/torii, bench/loadgen and bench/backend into the results dir;
//  3. starts the backend, Torii, nginx and HAProxy as foreground processes
//     with generated configs in a temp dir: one worker or event loop each,
//     keep-alive to the upstream, logging off; proxies are pinned to CPU 0,
//     the backend and the load generator to CPU 1 (taskset);
//  4. measures each proxy's RSS idle and with -idle-conns idle keep-alive
//     connections;
//  5. checks the load generator's CPU cost per request against wrk's on the
//     backend directly;
//  6. runs the closed-loop scenarios in alternating rounds (direct, Torii,
//     nginx, HAProxy, then again), then the open-loop fixed-rate run for
//     added p99 latency;
//  7. stops only the processes it started, by PID;
//  8. runs the HTTPS scenarios (phase "tls"): bench/tls-compare.sh with the
//     same rounds and -duration, whose lines it reads into the report
//     (keep-alive req/s, new TLS connections/s, RSS per idle TLS connection
//     against nginx and HAProxy);
//  9. runs the HTTP/2 scenario (phase "h2"): bench/h2-compare.sh, h2load
//     -c 50 -m 10 small GET over TLS (ALPN h2) against the same three;
//  10. runs gRPC unary calls through Torii against direct calls (phase
//     "grpc"): bench/grpcbench, pinned like the rest;
//  11. runs the allocation benchmarks (phase "allocs"): bench/inproc, and
//     the engine's HTTP/2 request against its HTTP/1.1 one (./core);
//  12. prints the report.
//
// All traffic goes to 127.0.0.1. The default run takes about 11 minutes;
// -long runs more rounds of longer measurements; -only runs some phases
// alone (e.g. -only memory,open) and leaves BENCHMARKS.md untouched.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each closed-loop measurement")
	flag.IntVar(&o.rounds, "rounds", 3, "alternating rounds (at least 3 for a median)")
	flag.IntVar(&o.conns, "conns", 64, "closed loop: keep-alive connections")
	flag.Float64Var(&o.rate, "rate", 5000, "open loop: fixed request rate, below saturation")
	flag.IntVar(&o.openConns, "open-conns", 16, "open loop: connections")
	flag.DurationVar(&o.openDuration, "open-duration", 5*time.Second, "length of each open-loop measurement")
	flag.IntVar(&o.idleConns, "idle-conns", 10000, "idle keep-alive connections for the RSS measurement (0: skip)")
	flag.IntVar(&o.proxyCPU, "proxy-cpu", 0, "CPU the proxies are pinned to")
	flag.IntVar(&o.loadCPU, "load-cpu", 1, "CPU the backend and load generators are pinned to")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "file whose bench-compare section is rewritten (empty: none)")
	flag.StringVar(&o.results, "results", "bench/results", "directory for binaries, raw JSON and the SVG plot")
	flag.BoolVar(&o.install, "install", true, "apt-get install nginx, haproxy and wrk when missing")
	flag.BoolVar(&o.long, "long", false, "a longer, steadier run: 5 rounds of 15 s")
	flag.BoolVar(&o.skipAllocs, "skip-allocs", false, "skip the in-process allocations-per-request benchmark")
	flag.StringVar(&o.skip, "skip", "", "comma-separated targets to leave out: torii, nginx, haproxy")
	toriiEnv := flag.String("torii-env", "", "comma-separated NAME=value environment of the Torii processes, e.g. GOMAXPROCS=1")
	only := flag.String("only", "", "comma-separated phases to run alone ("+strings.Join(phaseNames, ", ")+"); implies -out \"\"")
	flag.Parse()
	for kv := range strings.SplitSeq(*toriiEnv, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			if !strings.Contains(kv, "=") {
				fmt.Fprintf(os.Stderr, "compare: -torii-env wants NAME=value, got %q\n", kv)
				os.Exit(2)
			}
			o.toriiEnv = append(o.toriiEnv, kv)
		}
	}
	if *only != "" {
		var err error
		if o.only, err = parseOnly(*only); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(2)
		}
		o.out = "" // a partial run must not replace the recorded section
	}
	if o.long {
		o.rounds, o.duration, o.openDuration = max(o.rounds, 5), max(o.duration, 15*time.Second), max(o.openDuration, 15*time.Second)
	}
	if o.rounds < 1 || o.duration < time.Second || o.conns < 1 || o.rate <= 0 || o.openConns < 1 {
		fmt.Fprintln(os.Stderr, "compare: -rounds, -duration (>= 1s), -conns, -rate and -open-conns must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}
