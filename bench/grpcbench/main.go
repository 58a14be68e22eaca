// Command grpcbench measures gRPC unary calls per second through Torii against the same calls
// made directly to the backend, in the same run (issue 18): a grpc-go server of the interop
// TestService on loopback (h2c), torii in quick mode in front of it (torii proxy --to h2c://...
// --h2c: HTTP/2 with prior knowledge on the client side, the backend reached through the
// h2up bridge), and grpc-go clients. Rounds alternate direct and Torii so that the noise of a
// shared machine falls on both; the ratio of each pair and their median are printed.
//
//	go run ./bench/grpcbench -rounds 5 -duration 5s -c 32 -conns 4 -size 64
//
// Nothing is pinned unless -torii-cpu is given: then torii runs under taskset on that CPU, and
// the caller pins this process (bench/compare's "grpc" phase runs it under taskset on the load
// CPU, torii on the proxy CPU). The "round N: direct X calls/s, torii Y calls/s" lines are what
// that phase reads.
//
// Bounded: rounds x 2 x duration of load, plus start-up.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop/grpc_testing"
)

type server struct {
	grpc_testing.UnimplementedTestServiceServer
}

func (server) UnaryCall(_ context.Context, req *grpc_testing.SimpleRequest) (*grpc_testing.SimpleResponse, error) {
	return &grpc_testing.SimpleResponse{Payload: &grpc_testing.Payload{Body: make([]byte, req.ResponseSize)}}, nil
}

func main() {
	rounds := flag.Int("rounds", 5, "pairs of measurements (direct, Torii)")
	dur := flag.Duration("duration", 5*time.Second, "length of one measurement")
	conc := flag.Int("c", 32, "concurrent calls in flight")
	conns := flag.Int("conns", 4, "client HTTP/2 connections (calls are spread over them)")
	size := flag.Int("size", 64, "request and response payload bytes")
	loops := flag.Int("loops", 1, "torii event loops")
	bin := flag.String("torii", "", "torii binary (default: built from ./cmd/torii into a temporary directory)")
	cpu := flag.Int("torii-cpu", -1, "CPU to pin torii to with taskset (-1: not pinned)")
	extra := flag.String("flags", "", "more torii proxy flags, space-separated (e.g. \"--h2-server h2edge\")")
	flag.Parse()
	if err := run(*rounds, *dur, *conc, *conns, *size, *loops, *cpu, *bin, strings.Fields(*extra)); err != nil {
		fmt.Fprintln(os.Stderr, "grpcbench:", err)
		os.Exit(1)
	}
}

func run(rounds int, dur time.Duration, conc, conns, size, loops, cpu int, bin string, extra []string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	gs := grpc.NewServer()
	grpc_testing.RegisterTestServiceServer(gs, server{})
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()
	backend := ln.Addr().String()

	dir, err := os.MkdirTemp("", "grpcbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "torii")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/torii").CombinedOutput(); err != nil {
			return fmt.Errorf("cannot build torii: %v\n%s", err, out)
		}
	}
	proxy, pid, stop, err := startTorii(bin, dir, backend, loops, cpu, extra)
	if err != nil {
		return err
	}
	defer stop()
	pinned := "not pinned"
	if cpu >= 0 {
		pinned = fmt.Sprintf("torii on CPU %d", cpu)
	}
	fmt.Printf("gRPC unary, %d B payloads, %d calls in flight over %d connections, %d x %v per side, torii --loops %d %s (%s)\n",
		size, conc, conns, rounds, dur, loops, strings.Join(extra, " "), pinned)
	var ratios []float64
	for r := range rounds {
		direct, _, derr := measure(backend, dur, conc, conns, size)
		cpu0 := cpuTicks(pid)
		via, calls, verr := measure(proxy, dur, conc, conns, size)
		perCall := float64(cpuTicks(pid)-cpu0) * 1e6 / clockTicks / float64(calls)
		if derr != nil || verr != nil {
			return fmt.Errorf("round %d: direct %v, torii %v", r+1, derr, verr)
		}
		ratios = append(ratios, via/direct)
		fmt.Printf("round %d: direct %.0f calls/s, torii %.0f calls/s, ratio %.2f, torii CPU %.1f µs/call\n", r+1, direct, via, via/direct, perCall)
	}
	sort.Float64s(ratios)
	fmt.Printf("median ratio torii/direct: %.2f (min %.2f, max %.2f)\n", ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
	return nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on Linux).
const clockTicks = 100

// cpuTicks returns the user+system CPU time of process pid in clock ticks (0 when unreadable).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// measure runs conc callers for dur against addr and returns completed calls per second and
// their number; any failed call fails the measurement.
func measure(addr string, dur time.Duration, conc, conns, size int) (float64, int64, error) {
	clients := make([]grpc_testing.TestServiceClient, conns)
	for i := range clients {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithAuthority("grpc.bench"))
		if err != nil {
			return 0, 0, err
		}
		defer cc.Close()
		clients[i] = grpc_testing.NewTestServiceClient(cc)
	}
	req := &grpc_testing.SimpleRequest{ResponseSize: int32(size), Payload: &grpc_testing.Payload{Body: make([]byte, size)}}
	// Warm-up: connections and pools.
	for _, c := range clients {
		if _, err := c.UnaryCall(context.Background(), req); err != nil {
			return 0, 0, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur+10*time.Second)
	defer cancel()
	var calls atomic.Int64
	var failed atomic.Value
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conc {
		c := clients[i%conns]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if _, err := c.UnaryCall(ctx, req); err != nil {
					failed.Store(err)
					return
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		return 0, 0, err
	}
	return float64(calls.Load()) / el.Seconds(), calls.Load(), nil
}

// startTorii runs torii in quick mode in front of backend and returns its address and pid
// (taskset execs torii in its own process). With cpu >= 0 it runs under taskset, pinned to that
// CPU.
func startTorii(bin, dir, backend string, loops, cpu int, extra []string) (string, int, func(), error) {
	ready := filepath.Join(dir, "ready.json")
	args := append([]string{"proxy", "--listen", "127.0.0.1:0", "--to", "h2c://" + backend, "--h2c",
		"--loops", fmt.Sprint(loops), "--ready-file", ready, "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	if cpu >= 0 {
		cmd = exec.Command("taskset", append([]string{"-c", fmt.Sprint(cpu), bin}, args...)...)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(ready)
		if err != nil {
			continue
		}
		var a struct{ Proxy string }
		if json.Unmarshal(b, &a) == nil && a.Proxy != "" {
			return a.Proxy, cmd.Process.Pid, stop, nil
		}
	}
	stop()
	return "", 0, nil, fmt.Errorf("torii did not get ready")
}
