package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/torii-gateway/torii/bench/internal/load"
	"github.com/torii-gateway/torii/bench/internal/wire"
)

type options struct {
	duration, openDuration time.Duration
	rounds, conns          int
	rate                   float64
	openConns, idleConns   int
	proxyCPU, loadCPU      int
	out, results           string
	install, long          bool
	skipAllocs             bool
}

// Target names, in the order each round visits them.
const (
	direct  = "direct"
	torii   = "Torii"
	nginx   = "nginx"
	haproxy = "HAProxy"
)

var targetOrder = []string{direct, torii, nginx, haproxy}

type scenario struct {
	Key, Name, Path string
	Args            []string
	Pending         string
}

var scenarios = []scenario{
	{Key: "small", Name: "small GET (32 B body)", Path: "/"},
	{Key: "16k", Name: "16 KiB GET", Path: "/16k"},
	{Key: "post", Name: "1 KiB POST", Path: "/", Args: []string{"-method", "POST", "-body-size", "1024"}},
	{Key: "apikey", Name: "small GET + API key & quota", Pending: "pending: the API-key issue has not landed"},
}

// sample is one measurement of one target.
type sample struct {
	RPS      float64           `json:"rps"`
	P50      float64           `json:"p50_us"`
	P99      float64           `json:"p99_us"`
	P999     float64           `json:"p99_9_us"`
	Errors   uint64            `json:"errors"`
	GenCPU   float64           `json:"generator_cpu_us_per_req"`
	ProxyCPU float64           `json:"proxy_cpu_us_per_req,omitempty"`
	LagP99   float64           `json:"send_lag_p99_us,omitempty"` // open loop: the generator's own lateness
	Dist     []load.Percentile `json:"distribution,omitempty"`
}

type memSample struct {
	IdleKiB  int64 `json:"idle_kib"`
	ConnsKiB int64 `json:"with_conns_kib"`
	Conns    int   `json:"conns"`
}

type toolSample struct {
	RPS       float64 `json:"rps"`
	CPUPerReq float64 `json:"cpu_us_per_req"`
}

// results is everything a run measured; it is saved as JSON and rendered.
type results struct {
	Started     time.Time                      `json:"started"`
	Elapsed     time.Duration                  `json:"elapsed_ns"`
	Machine     machine                        `json:"machine"`
	Command     string                         `json:"command"`
	Rounds      int                            `json:"rounds"`
	Duration    time.Duration                  `json:"duration_ns"`
	Conns       int                            `json:"conns"`
	Rate        float64                        `json:"rate"`
	OpenConns   int                            `json:"open_conns"`
	OpenDur     time.Duration                  `json:"open_duration_ns"`
	ProxyCPU    int                            `json:"proxy_cpu"`
	LoadCPU     int                            `json:"load_cpu"`
	Unavailable map[string]string              `json:"unavailable"`
	Closed      map[string]map[string][]sample `json:"closed"` // scenario key → target → rounds
	Open        map[string][]sample            `json:"open"`   // target → rounds
	Mem         map[string]memSample           `json:"memory"`
	Tools       map[string][]toolSample        `json:"generators"` // "loadgen", "wrk" → rounds
	Allocs      []allocLine                    `json:"allocs"`
	AllocsNote  string                         `json:"allocs_note"`
}

type env struct {
	o       *options
	dir     string // temp dir: configs, logs, JSON
	bin     string // built binaries
	procs   []*proc
	ports   map[string]int
	proxies map[string]*proc
	res     *results
}

func run(ctx context.Context, o *options) error {
	res := &results{
		Started: time.Now().UTC(), Command: strings.Join(append([]string{"go run ./bench/compare"}, os.Args[1:]...), " "), Rounds: o.rounds, Duration: o.duration,
		Conns: o.conns, Rate: o.rate, OpenConns: o.openConns, OpenDur: o.openDuration,
		ProxyCPU: o.proxyCPU, LoadCPU: o.loadCPU, Unavailable: map[string]string{},
		Closed: map[string]map[string][]sample{}, Open: map[string][]sample{},
		Mem: map[string]memSample{}, Tools: map[string][]toolSample{},
	}
	if err := ensureTools(o.install); err != nil {
		return err
	}
	res.Machine = describeMachine()
	dir, err := os.MkdirTemp("", "torii-bench-compare-")
	if err != nil {
		return fmt.Errorf("cannot create temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	e := &env{o: o, dir: dir, bin: filepath.Join(o.results, "bin"), res: res,
		ports: map[string]int{}, proxies: map[string]*proc{}}
	defer e.stopAll()

	logf("building binaries into %s", e.bin)
	if err := e.build(ctx); err != nil {
		return err
	}
	if err := e.startAll(ctx); err != nil {
		return err
	}
	if o.idleConns > 0 {
		e.measureMemory(ctx)
	}
	e.compareGenerators(ctx)
	e.closedRounds(ctx)
	e.openRounds(ctx)
	e.stopAll()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot finish the comparison: %w", err)
	}
	if !o.skipAllocs {
		res.Allocs, res.AllocsNote = measureAllocs(ctx, o)
	}
	res.Elapsed = time.Since(res.Started)
	res.Machine.LoadEnd = loadAverage()
	return e.report()
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...)
}

// ensureTools installs nginx, haproxy and wrk from Debian when missing.
func ensureTools(install bool) error {
	var missing []string
	for _, t := range []struct{ bin, pkg string }{{"nginx", "nginx"}, {"haproxy", "haproxy"}, {"wrk", "wrk"}, {"taskset", "util-linux"}} {
		if _, err := lookPath(t.bin); err != nil {
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if !install || os.Geteuid() != 0 {
		return fmt.Errorf("cannot run without %s: install them (apt-get install -y %s) or run as root",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	logf("installing %s with apt-get", strings.Join(missing, " "))
	// Keep apt from starting the nginx and haproxy system services: the
	// comparison runs its own foreground processes and must leave nothing
	// running. policy-rc.d exiting 101 is Debian's "do not start" switch.
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); os.IsNotExist(err) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\n# bench/compare: no service starts during its apt-get\nexit 101\n"), 0o755); err == nil {
			defer os.Remove(policy)
		}
	}
	for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("cannot apt-get %s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}

// lookPath also searches the sbin directories, where Debian puts nginx and
// haproxy but which a non-root PATH may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("cannot find %s: %w", name, exec.ErrNotFound)
}

func (e *env) build(ctx context.Context) error {
	for _, b := range []struct{ name, pkg string }{{"loadgen", "./bench/loadgen"}, {"backend", "./bench/backend"}, {"torii", "./cmd/torii"}} {
		out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(e.bin, b.name), b.pkg).CombinedOutput()
		if err != nil {
			if b.name == "torii" { // the others can still be compared
				e.res.Unavailable[torii] = "build failed: " + firstLine(string(out))
				logf("Torii does not build; continuing without it: %s", out)
				continue
			}
			return fmt.Errorf("cannot build %s: %w: %s", b.pkg, err, out)
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// startAll starts the backend and every available proxy, and checks each
// answers 200 through to the backend.
func (e *env) startAll(ctx context.Context) error {
	o := e.o
	for _, n := range targetOrder {
		p, err := freePort()
		if err != nil {
			return err
		}
		e.ports[n] = p
	}
	maxConns := max(o.idleConns, 1024)
	be, err := e.start(ctx, "backend", o.loadCPU, 0, direct, filepath.Join(e.bin, "backend"),
		"-listen", e.addr(direct), "-size", "32", "-sizes", "/16k=16384")
	if err != nil {
		return err
	}
	_ = be
	upstream := e.ports[direct]
	nofile := 2*maxConns + 4096
	if _, ok := e.res.Unavailable[torii]; !ok {
		p, err := e.start(ctx, torii, o.proxyCPU, nofile, torii, filepath.Join(e.bin, "torii"), "proxy",
			"--listen", e.addr(torii), "--to", fmt.Sprintf("http://127.0.0.1:%d", upstream), "--loops", "1", "--log-level", "error")
		e.register(torii, p, err)
	}
	nginxBin, _ := lookPath("nginx")
	conf := filepath.Join(e.dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(e.dir, e.ports[nginx], upstream, maxConns, nofileLimit(nofile))), 0o644); err != nil {
		return fmt.Errorf("cannot write nginx config: %w", err)
	}
	p, err := e.start(ctx, nginx, o.proxyCPU, nofile, nginx, nginxBin, "-p", e.dir, "-c", conf, "-e", filepath.Join(e.dir, "nginx-error.log"))
	e.register(nginx, p, err)
	haproxyBin, _ := lookPath("haproxy")
	cfg := filepath.Join(e.dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(e.ports[haproxy], upstream, maxConns)), 0o644); err != nil {
		return fmt.Errorf("cannot write haproxy config: %w", err)
	}
	p, err = e.start(ctx, haproxy, o.proxyCPU, nofile, haproxy, haproxyBin, "-db", "-f", cfg)
	e.register(haproxy, p, err)

	// Every target must answer the three scenarios with 2xx before we time it.
	for _, n := range targetOrder {
		if _, bad := e.res.Unavailable[n]; bad {
			continue
		}
		for _, s := range scenarios[:3] {
			rep, _, err := e.loadgen(ctx, n, s, []string{"-c", "2", "-n", "200", "-d", "0", "-timeout", "2s"})
			if err == nil && rep.OK != 200 {
				err = fmt.Errorf("%d of 200 requests got 2xx (errors %+v)", rep.OK, rep.Errors)
			}
			if err != nil {
				if n == direct {
					return fmt.Errorf("cannot use the backend: %w", err)
				}
				e.res.Unavailable[n] = fmt.Sprintf("failed the %s check: %v", s.Name, err)
				logf("%s is unavailable: %v", n, err)
				break
			}
		}
	}
	return nil
}

func (e *env) addr(target string) string { return fmt.Sprintf("127.0.0.1:%d", e.ports[target]) }

func (e *env) start(ctx context.Context, name string, cpu, nofile int, target string, args ...string) (*proc, error) {
	p, err := startProc(e.dir, name, cpu, nofile, args...)
	if err != nil {
		return nil, err
	}
	e.procs = append(e.procs, p)
	if err := waitPort(ctx, p, e.addr(target)); err != nil {
		return nil, err
	}
	logf("started %s (PID %d) on %s, CPU %d", name, p.pid(), e.addr(target), cpu)
	return p, nil
}

func (e *env) register(name string, p *proc, err error) {
	if err != nil {
		e.res.Unavailable[name] = err.Error()
		logf("%s is unavailable: %v", name, err)
		return
	}
	e.proxies[name] = p
}

// stopAll stops, by PID, every process this driver started, newest first.
func (e *env) stopAll() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop()
	}
	e.procs = nil
}

// available returns the targets that can be measured, in round order.
func (e *env) available() []string {
	var out []string
	for _, n := range targetOrder {
		if _, bad := e.res.Unavailable[n]; !bad {
			out = append(out, n)
		}
	}
	return out
}

// loadgen runs the load generator pinned to the load CPU against target and
// returns its report and the target's CPU time during the run.
func (e *env) loadgen(ctx context.Context, target string, s scenario, args []string) (load.Report, time.Duration, error) {
	var rep load.Report
	out := filepath.Join(e.dir, "loadgen.json")
	full := append([]string{"-c", strconv.Itoa(e.o.loadCPU), filepath.Join(e.bin, "loadgen"), "-q", "-json", out}, args...)
	full = append(full, s.Args...)
	full = append(full, "http://"+e.addr(target)+s.Path)
	var before procStat
	p := e.proxies[target]
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
			for _, t := range e.available() {
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
		for _, t := range e.available() {
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

// measureMemory records each proxy's RSS at idle and while holding
// idleConns idle keep-alive connections (each has served one request).
func (e *env) measureMemory(ctx context.Context) {
	raiseNofile(e.o.idleConns + 2048)
	for _, t := range e.available() {
		p := e.proxies[t]
		if p == nil || ctx.Err() != nil {
			continue
		}
		time.Sleep(300 * time.Millisecond)
		idle, err := treeStat(p.pid())
		if err != nil {
			logf("memory of %s: %v", t, err)
			continue
		}
		conns, err := openIdle(ctx, e.addr(t), e.o.idleConns)
		if err != nil {
			logf("memory of %s: %v", t, err)
		}
		time.Sleep(500 * time.Millisecond)
		busy, err2 := treeStat(p.pid())
		for _, c := range conns {
			c.Close()
		}
		if err != nil || err2 != nil {
			continue
		}
		m := memSample{IdleKiB: idle.rssKiB, ConnsKiB: busy.rssKiB, Conns: len(conns)}
		e.res.Mem[t] = m
		logf("memory  %-8s idle %d KiB, with %d idle connections %d KiB", t, m.IdleKiB, m.Conns, m.ConnsKiB)
		time.Sleep(time.Second) // let the proxy notice the closes
	}
}

// nofileLimit returns n, or the hard open-file limit when that is lower.
func nofileLimit(n int) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && uint64(n) > lim.Max {
		return int(lim.Max)
	}
	return n
}

// raiseNofile lifts this process's open-file limit to at least n (root may
// also raise the hard limit).
func raiseNofile(n int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= uint64(n) {
		return
	}
	lim.Cur = uint64(n)
	lim.Max = max(lim.Max, uint64(n))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logf("cannot raise the open-file limit to %d: %v", n, err)
	}
}

// openIdle opens n keep-alive connections to addr, sends one GET on each and
// reads the response, and returns them open and idle.
func openIdle(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	req := []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: torii-bench-compare\r\n\r\n")
	conns := make([]net.Conn, n)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	const workers = 32
	for w := range workers {
		wg.Go(func() {
			rd := wire.NewReader(nil, wire.MinBufferSize)
			var resp wire.Response
			for i := w; i < n && ctx.Err() == nil; i += workers {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err == nil {
					c.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err = c.Write(req); err == nil {
						rd.Reset(c)
						err = rd.Next(&resp, false)
					}
					c.SetDeadline(time.Time{})
					if err != nil {
						c.Close()
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("cannot open idle connection %d to %s: %w", i, addr, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	var out []net.Conn
	for _, c := range conns {
		if c != nil {
			out = append(out, c)
		}
	}
	return out, firstErr
}
