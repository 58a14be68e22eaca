package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/torii-gateway/torii/admin"
	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/cluster"
	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
)

// toriiVersion is sent as Otoroshi-Leader-Node-Version and Otoroshi-Worker-Version.
const toriiVersion = "0.1.0"

// leaderFlags are the cluster flags of "torii serve".
type leaderFlags struct {
	on      bool
	keyFile string
	name    string
}

func (f *leaderFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "cluster-leader", false, "serve the cluster endpoints (/api/cluster/state, /quotas, /members) on the admin address,\n"+
		"for workers started with torii worker --leader")
	fs.StringVar(&f.keyFile, "cluster-key-file", "", "the cluster key workers present (clientId/clientSecret lines, as --admin-key-file writes);\n"+
		"created (mode 0600) when missing; default: cluster-key in --data-dir")
	fs.StringVar(&f.name, "cluster-name", "", "this node's name in the cluster (default: the host name)")
}

// newLeader loads or creates the cluster key and returns the leader, whose source is set once the
// admin API exists.
func newLeader(f *leaderFlags, dataDir string, counters *quota.Counters, log *slog.Logger) (*cluster.Leader, error) {
	path := f.keyFile
	if path == "" {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("cannot create --data-dir: %w", err)
		}
		path = filepath.Join(dataDir, "cluster-key")
	}
	key, created, err := cluster.LoadOrCreateKeyFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created the cluster key; give this file to the workers (--cluster-key-file)", "path", path, "clientId", key.ClientID)
	}
	return cluster.NewLeader(cluster.LeaderOptions{Key: key, Name: nodeName(f.name), Version: toriiVersion,
		Quotas: counters, Logger: log}), nil
}

func nodeName(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "torii"
	}
	return h
}

// workerFlags are the flags of "torii worker".
type workerFlags struct {
	engine  engineFlags
	leader  string
	keyFile string
	dataDir string
	name    string
	status  string
	access  accessLogFlags
	quota   quotaFlags
}

func (f *workerFlags) register(fs *flag.FlagSet) {
	f.engine.register(fs, ":8080")
	fs.StringVar(&f.leader, "leader", "", "the leader's admin address, http://HOST:PORT (required)")
	fs.StringVar(&f.keyFile, "cluster-key-file", "", "file holding the cluster key (clientId/clientSecret lines; required)")
	fs.StringVar(&f.dataDir, "data-dir", admin.DefaultDataDir, "directory where the last state received is kept ("+cluster.StateFile+"),\nserved at start while the leader is down")
	fs.StringVar(&f.name, "name", "", "this worker's name in the cluster (default: host name and port)")
	fs.StringVar(&f.status, "status", "", "address of a small status listener (/metrics, /health; empty: none; port 0: a free port)")
	f.access.register(fs)
	f.quota.register(fs)
}

// runWorker runs the proxy with the configuration of a leader: no admin API, no database.
func runWorker(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f workerFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.leader == "" || f.keyFile == "" {
		return fmt.Errorf("torii worker needs --leader http://HOST:PORT and --cluster-key-file FILE")
	}
	if err := f.access.check(); err != nil {
		return err
	}
	key, err := cluster.ReadKeyFile(f.keyFile)
	if err != nil {
		return err
	}
	log := newLogger(stderr, f.engine.logLevel)
	ready := f.engine.readiness(log)
	if err := ready.clear(); err != nil {
		return err
	}
	cfg := f.engine.config(log)
	loops := cfg.Loops
	if loops <= 0 {
		loops = runtime.GOMAXPROCS(0)
	}
	cfg.Loops = loops
	accessLog, closeAccessLog, err := openAccessLog(f.access.path)
	if err != nil {
		return err
	}
	defer closeAccessLog()
	set := metric.NewSet(loops)
	hub := event.NewHub(event.Options{Loops: loops, Metrics: set, Logger: log,
		AccessLog: accessLog, AccessLogFormat: f.access.format()})
	counters := quota.New(quota.Options{})
	// Before the engine (its gateway throttles count in the same counters) and before any key
	// is compiled (quota.Counters.EnableGlobal precedes the first slot).
	engine, err := f.quota.start(counters, set, log)
	if err != nil {
		return err
	}
	cfg.Events, cfg.Metrics, cfg.Quotas = hub, set, counters
	// Private apps on this node: its own sessions (per node, as documented) and login server.
	// A worker keeps no database (issue 20): its sessions live in memory only, so a worker
	// restart logs its private-app users out; the leader and a standalone serve persist theirs.
	sessions := privateapp.New(nil)
	cfg.PrivateApps = sessions
	loginLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("cannot listen on loopback for the private-app login pages: %w", err)
	}
	login := auth.NewServer(auth.Options{Sessions: sessions, Logger: log.With("component", "privateapps"),
		Addr: netip.MustParseAddrPort(loginLn.Addr().String())})
	srv, err := core.NewServer(cfg)
	if err != nil {
		return err
	}
	reg := route.NewRegistry()
	// Circuit breaker and health transitions become alerts for the exporters, as on the leader.
	alerts := newAlerter(hub, log)
	reg.OnEvent = alerts.offer
	health := route.NewHealthChecker(reg, route.HealthOptions{})
	compiler := admin.NewClusterCompiler(log, counters, reg)
	compiler.SetPrivateApps(login)
	defer compiler.Close()
	compiler.OnNamesChange(func(out *admin.ClusterCompiled) { // target names resolved or changed
		login.Update(out.Auths, out.Private)
		health.Update(out.Snapshot.Routes)
		srv.Publish(out.Snapshot)
	})
	exportersApplied := "" // the ExportersTag running; apply runs on one goroutine at a time
	apply := func(entries map[string][]byte) error {
		out, err := compiler.Compile(entries)
		if err != nil {
			return err
		}
		// The leader's data exporters run here too, on the hub's goroutine (off the loops), so
		// that every call a worker serves is exported. One the hub cannot start (a file path
		// absent on this machine) leaves the previous ones running: the routes still apply.
		if out.ExportersTag != exportersApplied {
			if err := hub.SetExporters(out.Exporters); err != nil {
				log.Error("data exporters of the cluster state not started; the previous ones keep running", "err", err)
			} else {
				exportersApplied = out.ExportersTag
				log.Info("data exporters applied", "count", len(out.Exporters))
			}
		}
		login.Update(out.Auths, out.Private)
		health.Update(out.Snapshot.Routes)
		srv.Publish(out.Snapshot)
		log.Info("cluster state applied", "routes", len(out.Routes.Routes()), "ignored", out.Ignored)
		return nil
	}
	_, port, _ := net.SplitHostPort(f.engine.listen)
	httpPort, _ := strconv.Atoi(port)
	host, _ := os.Hostname()
	name := f.name
	if name == "" {
		name = host + ":" + port
	}
	w, err := cluster.NewWorker(cluster.WorkerOptions{Leader: f.leader, Key: key, ID: "worker_" + name, Name: name,
		Version: toriiVersion, Location: host, HTTPPort: httpPort, DataDir: f.dataDir, Apply: apply,
		Status: engine.status, Logger: log})
	if err != nil {
		return err
	}
	engine.w = w
	if _, err := w.LoadSaved(); err != nil {
		log.Error("saved cluster state not used", "err", err)
	}
	if err := w.FetchOnce(ctx); err != nil {
		log.Warn("first state from the leader not received; retrying", "err", err)
	}

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	var wg sync.WaitGroup
	spawn := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	spawn(func() { hub.Run(bg) })
	spawn(func() { alerts.run(bg) })
	spawn(func() { _ = health.Run(bg) })
	spawn(func() { w.Run(bg) })
	spawn(func() {
		if err := login.Serve(bg, loginLn); err != nil {
			log.Error("private-app login server stopped", "err", err)
		}
	})
	spawn(func() { engine.run(bg) })
	if f.status != "" {
		ln, err := net.Listen("tcp", f.status)
		if err != nil {
			return fmt.Errorf("cannot listen on %s for --status: %w", f.status, err)
		}
		ready.addrs.Status = reachable(f.status, ln.Addr().String())
		hs := &http.Server{Handler: statusHandler(set, engine, w), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		defer hs.Close()
	}
	err = ready.run(ctx, srv)
	stopBG()
	wg.Wait()
	engine.close()
	if err == core.ErrServerClosed {
		err = nil
	}
	return err
}
