package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/torii-gateway/torii/bench/internal/load"
)

// loadgen runs the load generator pinned to the load CPU against target and
// returns its report and the target's CPU time during the run.
func (e *env) loadgen(ctx context.Context, target string, s scenario, args []string) (load.Report, time.Duration, error) {
	var rep load.Report
	out := filepath.Join(e.dir, "loadgen.json")
	full := append([]string{"-c", strconv.Itoa(e.o.loadCPU), filepath.Join(e.bin, "loadgen"), "-q", "-json", out}, args...)
	full = append(full, s.Args...)
	addr, p := e.addr(target), e.proxies[target]
	if s.Keyed {
		addr = fmt.Sprintf("127.0.0.1:%d", e.keyPorts[target])
		if kp := e.keyProxies[target]; kp != nil {
			p = kp
		}
	}
	full = append(full, "http://"+addr+s.Path)
	var before procStat
	if p != nil {
		before, _ = treeStat(p.pid())
	}
	runCtx, cancel := context.WithTimeout(ctx, e.o.duration+e.o.openDuration+60*time.Second)
	defer cancel()
	cmdOut, err := exec.CommandContext(runCtx, "taskset", full...).CombinedOutput()
	if err != nil {
		return rep, 0, fmt.Errorf("cannot run loadgen against %s: %w: %s", target, err, cmdOut)
	}
	var cpu time.Duration
	if p != nil {
		after, _ := treeStat(p.pid())
		cpu = after.cpu - before.cpu
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return rep, 0, fmt.Errorf("cannot read loadgen report: %w", err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, 0, fmt.Errorf("cannot decode loadgen report: %w", err)
	}
	return rep, cpu, nil
}

func toSample(rep load.Report, proxyCPU time.Duration) sample {
	s := sample{
		RPS: rep.RPS, P50: rep.Latency.P50, P99: rep.Latency.P99, P999: rep.Latency.P999,
		Errors: rep.Errors.Total(), GenCPU: rep.CPUPerRequest,
	}
	if proxyCPU > 0 && rep.Responses > 0 {
		s.ProxyCPU = proxyCPU.Seconds() * 1e6 / float64(rep.Responses)
	}
	return s
}

// closedRounds runs every scenario against every target, round after round.
func (e *env) closedRounds(ctx context.Context) {
	d := strconv.FormatFloat(e.o.duration.Seconds(), 'f', -1, 64) + "s"
	for r := 1; r <= e.o.rounds && ctx.Err() == nil; r++ {
		for _, s := range scenarios {
			if s.Pending != "" {
				continue
			}
			if e.res.Closed[s.Key] == nil {
				e.res.Closed[s.Key] = map[string][]sample{}
			}
			for _, t := range e.available(s) {
				rep, cpu, err := e.loadgen(ctx, t, s, []string{"-c", strconv.Itoa(e.o.conns), "-d", d})
				if err != nil {
					logf("round %d, %s, %s: %v", r, s.Name, t, err)
					continue
				}
				smp := toSample(rep, cpu)
				e.res.Closed[s.Key][t] = append(e.res.Closed[s.Key][t], smp)
				logf("round %d/%d  %-22s %-8s %9.0f req/s  p99 %8.1f µs  errors %d",
					r, e.o.rounds, s.Name, t, smp.RPS, smp.P99, smp.Errors)
			}
		}
	}
}

// openRounds measures latency at a fixed rate below saturation.
func (e *env) openRounds(ctx context.Context) {
	d := strconv.FormatFloat(e.o.openDuration.Seconds(), 'f', -1, 64) + "s"
	rate := strconv.FormatFloat(e.o.rate, 'f', -1, 64)
	for r := 1; r <= e.o.rounds && ctx.Err() == nil; r++ {
		for _, t := range e.available(scenarios[0]) {
			rep, _, err := e.loadgen(ctx, t, scenarios[0], []string{"-c", strconv.Itoa(e.o.openConns), "-rate", rate, "-d", d})
			if err != nil {
				logf("open loop round %d, %s: %v", r, t, err)
				continue
			}
			smp := toSample(rep, 0)
			smp.Dist = rep.Distribution
			if rep.SendLag != nil {
				smp.LagP99 = rep.SendLag.P99
			}
			e.res.Open[t] = append(e.res.Open[t], smp)
			logf("open loop %d/%d  %-8s %.0f req/s  p50 %.1f µs  p99 %.1f µs  p99.9 %.1f µs  errors %d",
				r, e.o.rounds, t, smp.RPS, smp.P50, smp.P99, smp.P999, smp.Errors)
		}
	}
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in`)

// compareGenerators runs loadgen and wrk alternately against the backend,
// same connections and duration, and records each one's CPU per request
// from its rusage.
func (e *env) compareGenerators(ctx context.Context) {
	d := strconv.Itoa(max(1, int(e.o.duration.Seconds()))) + "s"
	url := "http://" + e.addr(direct) + "/"
	c := strconv.Itoa(e.o.conns)
	cpuArg := strconv.Itoa(e.o.loadCPU)
	for r := 1; r <= e.o.rounds && ctx.Err() == nil; r++ {
		for _, tool := range []string{"loadgen", "wrk"} {
			var args []string
			if tool == "loadgen" {
				args = []string{"-c", cpuArg, filepath.Join(e.bin, "loadgen"), "-q", "-c", c, "-d", d, url}
			} else {
				wrk, _ := lookPath("wrk")
				args = []string{"-c", cpuArg, wrk, "-t1", "-c" + c, "-d" + d, url}
			}
			cmd := exec.CommandContext(ctx, "taskset", args...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				logf("%s against the backend: %v: %s", tool, err, out)
				continue
			}
			ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			var n float64
			if tool == "wrk" {
				if m := wrkRequests.FindSubmatch(out); m != nil {
					n, _ = strconv.ParseFloat(string(m[1]), 64)
				}
			} else if m := regexp.MustCompile(`(\d+) responses`).FindSubmatch(out); m != nil {
				n, _ = strconv.ParseFloat(string(m[1]), 64)
			}
			if ru == nil || n == 0 {
				logf("%s: cannot read its request count or CPU time: %s", tool, out)
				continue
			}
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			ts := toolSample{RPS: n / e.o.duration.Seconds(), CPUPerReq: cpu.Seconds() * 1e6 / n}
			e.res.Tools[tool] = append(e.res.Tools[tool], ts)
			logf("generators %d/%d  %-8s %9.0f req/s  %.2f CPU µs/req", r, e.o.rounds, tool, ts.RPS, ts.CPUPerReq)
		}
	}
}
