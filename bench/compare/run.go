package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/torii-gateway/torii/bench/internal/load"
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
	skip                   string
	only                   map[string]bool // phases to run; nil: all
	toriiEnv               []string        // NAME=value pairs for both Torii processes
}

// The phases -only can pick.
var phaseNames = []string{"memory", "generators", "closed", "open", "tls", "h2", "grpc", "allocs"}

// runs reports whether phase is to run.
func (o *options) runs(phase string) bool { return o.only == nil || o.only[phase] }

// toriiCommand is the command line of the torii binary with args, behind
// env(1) when -torii-env sets variables (env execs torii: the PID stays).
func (e *env) toriiCommand(args ...string) []string {
	bin := filepath.Join(e.bin, "torii")
	if len(e.o.toriiEnv) == 0 {
		return append([]string{bin}, args...)
	}
	cmd := append(append([]string{"env"}, e.o.toriiEnv...), bin)
	return append(cmd, args...)
}

// parseOnly reads -only: comma-separated names from phaseNames.
func parseOnly(list string) (map[string]bool, error) {
	only := map[string]bool{}
	for p := range strings.SplitSeq(list, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(phaseNames, p) {
			return nil, fmt.Errorf("unknown phase %q in -only (want %s)", p, strings.Join(phaseNames, ", "))
		}
		only[p] = true
	}
	return only, nil
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
	Keyed           bool // sent to each proxy's API-key port
	ToriiOnly       bool // measured on Torii only
}

var scenarios = []scenario{
	{Key: "small", Name: "small GET (32 B body)", Path: "/"},
	{Key: "16k", Name: "16 KiB GET", Path: "/16k"},
	{Key: "post", Name: "1 KiB POST", Path: "/", Args: []string{"-method", "POST", "-body-size", "1024"}},
	// The baseline of the API-key cost: the same `torii serve` process, a route without the plugin.
	{Key: "serve", Name: "small GET, torii serve, no key", Path: "/", Args: []string{"-H", "Host: " + plainHost, "-H", "X-Bench: 1"}, Keyed: true, ToriiOnly: true},
	// The same process, a route with ten plugins configured and none firing (issue 19).
	{Key: "plugins", Name: "small GET, torii serve, 10 plugins not firing", Path: "/", Args: []string{"-H", "Host: " + pluginsHost, "-H", "X-Bench: 1"}, Keyed: true, ToriiOnly: true},
	{Key: "apikey", Name: "small GET + API key & quota", Path: "/", Args: keyHeaders(), Keyed: true},
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
	TLS         *tlsResults                    `json:"tls,omitempty"`  // the HTTPS phase (bench/tls-compare.sh)
	H2          *h2Results                     `json:"h2,omitempty"`   // the HTTP/2 phase (bench/h2-compare.sh)
	GRPC        *grpcResults                   `json:"grpc,omitempty"` // the gRPC phase (bench/grpcbench)
	CoreAllocs  []allocLine                    `json:"core_allocs"`    // BenchmarkProxyH2Get and BenchmarkProxyGet (./core)
	CoreNote    string                         `json:"core_allocs_note"`
}

type env struct {
	o       *options
	dir     string // temp dir: configs, logs, JSON
	bin     string // built binaries
	procs   []*proc
	ports   map[string]int
	proxies map[string]*proc
	// The API-key scenario: each proxy's port that checks the key (the
	// backend's own port for direct), the Torii that serves it (a second
	// process), and why a target cannot run it.
	keyPorts   map[string]int
	keyProxies map[string]*proc
	keyBad     map[string]string
	res        *results
}

func run(ctx context.Context, o *options) error {
	res := &results{
		Started: time.Now().UTC(), Command: strings.Join(append([]string{"go run ./bench/compare"}, os.Args[1:]...), " "), Rounds: o.rounds, Duration: o.duration,
		Conns: o.conns, Rate: o.rate, OpenConns: o.openConns, OpenDur: o.openDuration,
		ProxyCPU: o.proxyCPU, LoadCPU: o.loadCPU, Unavailable: map[string]string{},
		Closed: map[string]map[string][]sample{}, Open: map[string][]sample{},
		Mem: map[string]memSample{}, Tools: map[string][]toolSample{},
	}
	if b, err := os.ReadFile("go.mod"); err != nil || !strings.Contains(string(b), "module github.com/torii-gateway/torii\n") {
		return fmt.Errorf("cannot find Torii's go.mod here: run from the repository root (make bench-compare)")
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
		ports: map[string]int{}, proxies: map[string]*proc{},
		keyPorts: map[string]int{}, keyProxies: map[string]*proc{}, keyBad: map[string]string{}}
	defer e.stopAll()

	logf("building binaries into %s", e.bin)
	if err := e.build(ctx); err != nil {
		return err
	}
	// The plaintext proxies serve the first four phases only: the others start their own
	// processes, or none.
	plain := (o.idleConns > 0 && o.runs("memory")) || o.runs("generators") || o.runs("closed") || o.runs("open")
	if plain {
		if err := e.startAll(ctx); err != nil {
			return err
		}
	}
	if o.idleConns > 0 && o.runs("memory") {
		e.measureMemory(ctx)
	}
	if o.runs("generators") {
		e.compareGenerators(ctx)
	}
	if o.runs("closed") {
		e.closedRounds(ctx)
	}
	if o.runs("open") {
		e.openRounds(ctx)
	}
	e.stopAll()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot finish the comparison: %w", err)
	}
	if o.runs("tls") {
		e.tlsRounds(ctx) // after the plaintext proxies stopped: the script starts its own on the same CPUs
	}
	if o.runs("h2") {
		e.h2Rounds(ctx) // the script starts its own proxies, like the tls phase
	}
	if o.runs("grpc") {
		e.grpcRounds(ctx)
	}
	if !o.skipAllocs && o.runs("allocs") {
		res.Allocs, res.AllocsNote = measureAllocs(ctx, o)
		res.CoreAllocs, res.CoreNote = measureCoreAllocs(ctx)
	}
	res.Elapsed = time.Since(res.Started)
	res.Machine.LoadEnd = loadAverage()
	return e.report()
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...)
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
	for name := range strings.SplitSeq(o.skip, ",") {
		for _, t := range targetOrder[1:] {
			if strings.EqualFold(strings.TrimSpace(name), t) {
				e.res.Unavailable[t] = "left out with -skip"
			}
		}
	}
	for _, n := range targetOrder {
		p, err := freePort()
		if err != nil {
			return err
		}
		e.ports[n] = p
		if n != direct {
			if p, err = freePort(); err != nil {
				return err
			}
			e.keyPorts[n] = p
		}
	}
	maxConns := max(o.idleConns, 1024)
	be, err := e.start(ctx, "backend", o.loadCPU, 0, direct, filepath.Join(e.bin, "backend"),
		"-listen", e.addr(direct), "-size", "32", "-sizes", "/16k=16384")
	if err != nil {
		return err
	}
	_ = be
	upstream := e.ports[direct]
	e.keyPorts[direct] = upstream
	nofile := 2*maxConns + 4096
	if _, ok := e.res.Unavailable[torii]; !ok {
		p, err := e.start(ctx, torii, o.proxyCPU, nofile, torii, e.toriiCommand("proxy",
			"--listen", e.addr(torii), "--to", fmt.Sprintf("http://127.0.0.1:%d", upstream), "--loops", "1", "--log-level", "error")...)
		e.register(torii, p, err)
		if err := e.startKeyedTorii(ctx, nofile, upstream); err != nil {
			e.keyBad[torii] = err.Error()
			logf("Torii cannot run the API-key scenario: %v", err)
		}
	}
	nginxBin, _ := lookPath("nginx")
	conf := filepath.Join(e.dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(e.dir, e.ports[nginx], e.keyPorts[nginx], upstream, maxConns, nofileLimit(nofile))), 0o644); err != nil {
		return fmt.Errorf("cannot write nginx config: %w", err)
	}
	if _, ok := e.res.Unavailable[nginx]; !ok {
		p, err := e.start(ctx, nginx, o.proxyCPU, nofile, nginx, nginxBin, "-p", e.dir, "-c", conf, "-e", filepath.Join(e.dir, "nginx-error.log"))
		e.register(nginx, p, err)
	}
	haproxyBin, _ := lookPath("haproxy")
	cfg := filepath.Join(e.dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(e.ports[haproxy], e.keyPorts[haproxy], upstream, maxConns)), 0o644); err != nil {
		return fmt.Errorf("cannot write haproxy config: %w", err)
	}
	if _, ok := e.res.Unavailable[haproxy]; !ok {
		p, err := e.start(ctx, haproxy, o.proxyCPU, nofile, haproxy, haproxyBin, "-db", "-f", cfg)
		e.register(haproxy, p, err)
	}

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
		if _, bad := e.res.Unavailable[n]; bad || n == direct {
			continue
		}
		if _, bad := e.keyBad[n]; !bad {
			if err := e.checkKeyed(ctx, n); err != nil {
				e.keyBad[n] = err.Error()
				logf("%s cannot run the API-key scenario: %v", n, err)
			}
		}
	}
	for n, why := range e.keyBad {
		e.res.Unavailable[n+" (API key)"] = why
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

// available returns the targets that can run s, in round order.
func (e *env) available(s scenario) []string {
	var out []string
	for _, n := range targetOrder {
		if _, bad := e.res.Unavailable[n]; bad {
			continue
		}
		if _, bad := e.keyBad[n]; (bad && s.Keyed) || (s.ToriiOnly && n != torii) {
			continue
		}
		out = append(out, n)
	}
	return out
}
