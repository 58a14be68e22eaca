package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/clientcreds"
	"github.com/torii-gateway/torii/core/apikey"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/torii-gateway/torii/admin"
	"github.com/torii-gateway/torii/cluster"
	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/dns"
	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/ui"
)

// defaultEchoAddr is the fixed address of the built-in echo backend: the seeded demo route
// stores it, so it must be the same at every start.
const defaultEchoAddr = "127.0.0.1:9001"

// serveFlags are the flags of "torii serve".
type serveFlags struct {
	engine     engineFlags
	acme       acmeFlags
	configPath string
	echoAddr   string
	adminAddr  string
	adminHosts stringList
	dataDir    string
	resetKey   bool
	dnsMinTTL  time.Duration
	dnsMaxTTL  time.Duration
	keyFile    string
	healthEach time.Duration
	access     accessLogFlags
	webUI      bool
	// Route series cardinality of /metrics (metric.Set.SetRouteSeries).
	routeSeries int
	perRoute    bool
	cluster     leaderFlags
	// Import limits (admin.Options.MaxImportEntities, MaxImportBytes).
	maxImportEntities int
	maxImportBytes    int64
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.engine.register(fs, ":8080")
	f.engine.tls.register(fs, true)
	f.acme.register(fs)
	fs.StringVar(&f.configPath, "config", "", "routes file (JSON): the initial configuration imported into an empty database\n(with --admin off: the whole configuration); empty: the demo route")
	fs.StringVar(&f.echoAddr, "echo", defaultEchoAddr, "address of the built-in echo backend used by the demo route (\"off\": none;\n"+
		"port 0: a free port, which the demo route seeded at first start keeps: pass the reported address at later starts)")
	fs.StringVar(&f.adminAddr, "admin", admin.DefaultListen, `admin API listen address ("off": no admin API, no state, routes from --config only; port 0: a free port)`)
	fs.Var(&f.adminHosts, "admin-host", "host name accepted by the admin API besides loopback names (repeat)")
	fs.StringVar(&f.dataDir, "data-dir", admin.DefaultDataDir, "directory of torii.db")
	fs.BoolVar(&f.resetKey, "reset-admin-key", false, "replace the stored admin API key with a new one, printed once")
	fs.StringVar(&f.keyFile, "admin-key-file", "", "write a newly created admin API key to this file (mode 0600) instead of stderr,\n"+
		"which a service manager may keep in its journal")
	f.access.register(fs)
	fs.BoolVar(&f.webUI, "ui", true, "serve the admin web UI at / on the admin address")
	fs.IntVar(&f.routeSeries, "metrics-route-series", metric.DefaultRouteSeriesMax, "most routes with /metrics series of their own (routes with traffic since start, first come);\n"+
		"the others are summed into route=\"other\"")
	fs.IntVar(&f.maxImportEntities, "max-import-entities", admin.DefaultMaxImportEntities, "most entities in each list of an imported export (routes, apiKeys...)")
	fs.Int64Var(&f.maxImportBytes, "max-import-bytes", 0, "largest import body in bytes (0: 32 MiB)")
	fs.BoolVar(&f.perRoute, "metrics-per-route", true, "write per-route /metrics series (false: every route is summed into route=\"other\")")
	fs.DurationVar(&f.dnsMinTTL, "dns-min-ttl", dns.DefaultMinTTL, "floor of the DNS TTL of target host names (also how soon a name that does not resolve is tried again)")
	fs.DurationVar(&f.dnsMaxTTL, "dns-max-ttl", dns.DefaultMaxTTL, "ceiling of the DNS TTL of target host names")
	f.cluster.register(fs)
	fs.DurationVar(&f.healthEach, "health-interval", 10*time.Second, "time between two rounds of active health checks (routes with backend.health_check)")
}

// runServe runs the gateway with its admin API and state, or from a routes file alone
// (--admin off).
func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := f.access.check(); err != nil {
		return err
	}
	log := newLogger(stderr, f.engine.logLevel)
	ready := f.engine.readiness(log)
	if err := ready.clear(); err != nil {
		return err
	}

	data := defaultRoutes
	if f.configPath != "" {
		b, err := os.ReadFile(f.configPath)
		if err != nil {
			return fmt.Errorf("cannot read routes file: %w", err)
		}
		data = b
	}
	routes, err := route.DecodeRoutes(data)
	if err != nil {
		return fmt.Errorf("cannot decode routes: %w", err)
	}
	if f.echoAddr == "off" && usesEcho(routes) {
		routes = dropEcho(routes)
		log.Info("no built-in echo backend: the demo route is left out")
	}
	if f.echoAddr != "off" {
		addr, closeEcho, err := startEcho(f.echoAddr)
		switch {
		case err != nil && usesEcho(routes):
			// Another process holds the port (another torii?): the demo route still points
			// there, so that the stored configuration stays the same; the proxy answers 502
			// if nothing answers. Port 0 names no address to point at.
			fixed, perr := netip.ParseAddrPort(f.echoAddr)
			if perr != nil || fixed.Port() == 0 {
				return err
			}
			pointEcho(routes, fixed)
			log.Warn("built-in echo backend not started; the demo route points at its address anyway", "err", err)
		case err != nil:
			log.Warn("built-in echo backend not started", "err", err)
		default:
			defer closeEcho()
			pointEcho(routes, addr)
			ready.addrs.Echo = reachable(f.echoAddr, addr.String())
			log.Info("built-in echo backend listening", "addr", addr.String())
		}
	}
	if f.adminAddr == "off" {
		cfg := f.engine.config(log)
		stop, err := startAccessLog(&cfg, f.access, log)
		if err != nil {
			return err
		}
		defer stop()
		return serveRoutes(ctx, cfg, routes, log, ready, &f.engine.tls, f.dataDir)
	}
	var seed []byte
	if len(routes) > 0 {
		if seed, err = json.Marshal(routes); err != nil {
			return fmt.Errorf("cannot encode the initial routes: %w", err)
		}
	}
	return serveWithAdmin(ctx, &f, log, seed, ready)
}

// dropEcho returns the routes that do not use the built-in echo backend.
func dropEcho(routes []route.Route) []route.Route {
	var kept []route.Route
	for _, r := range routes {
		if !usesEcho([]route.Route{r}) {
			kept = append(kept, r)
		}
	}
	return kept
}

// serveRoutes runs a proxy engine over fixed routes until ctx is done; ready announces the
// listeners.
func serveRoutes(ctx context.Context, cfg core.Config, routes []route.Route, log *slog.Logger, ready *readiness, tls *tlsFlags, dataDir string) error {
	table, err := route.Compile(routes, route.CompileOptions{})
	if err != nil {
		return fmt.Errorf("cannot compile routes: %w", err)
	}
	for _, w := range table.Warnings() {
		log.Warn("route warning", "warning", w.String())
	}
	return serveTable(ctx, cfg, table, ready, tls, dataDir)
}

// publisher hands each snapshot the admin API compiles to the health checker and the engine.
type publisher struct {
	engine *core.Server
	health *route.HealthChecker
	leader *cluster.Leader // nil unless --cluster-leader
}

func (p publisher) Publish(s *core.Snapshot) {
	p.health.Update(s.Routes)
	p.engine.Publish(s)
	if p.leader != nil {
		p.leader.Changed()
	}
}

// serveWithAdmin runs the whole gateway: the engine, the admin API over the bbolt state, quota
// counters and their persister, health checks, the event hub, metrics and live statistics.
//
// Shutdown, on SIGTERM or SIGINT: the engine stops accepting and finishes in-flight exchanges
// (up to --shutdown-grace) while the admin API stops; then the background workers stop: the
// persister flushes the quota counters a last time, the hub flushes its exporters; then the
// database is closed.
//
// The admin listener is bound first, so that a busy admin port stops the start before the
// database is opened, and so that the key notice and ready announce the bound port.
func serveWithAdmin(ctx context.Context, f *serveFlags, log *slog.Logger, seed []byte, ready *readiness) error {
	cfg := f.engine.config(log)
	loops := cfg.Loops
	if loops <= 0 {
		loops = runtime.GOMAXPROCS(0)
	}
	if f.keyFile != "" {
		// Fail before anything is created if the key could not be written there.
		if err := checkWritableDir(f.keyFile); err != nil {
			return fmt.Errorf("cannot use --admin-key-file %q: %w", f.keyFile, err)
		}
	}
	adminLn, err := net.Listen("tcp", f.adminAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s for the admin API: %w", f.adminAddr, err)
	}
	adminServed := false
	defer func() {
		if !adminServed {
			_ = adminLn.Close()
		}
	}()
	adminAt := reachable(f.adminAddr, adminLn.Addr().String())
	ready.addrs.Admin = adminAt
	accessLog, closeAccessLog, err := openAccessLog(f.access.path)
	if err != nil {
		return err
	}
	defer closeAccessLog()
	set := metric.NewSet(loops)
	if f.routeSeries < 0 {
		return fmt.Errorf("--metrics-route-series must be 0 or more, not %d", f.routeSeries)
	}
	set.SetRouteSeries(f.routeSeries, f.perRoute)
	hub := event.NewHub(event.Options{Loops: loops, Metrics: set, Logger: log,
		AccessLog: accessLog, AccessLogFormat: f.access.format()})
	live := metric.NewLive(set)
	counters := quota.New(quota.Options{})
	cfg.Loops = loops // the hub has one ring per loop
	cfg.Events, cfg.Metrics, cfg.Live = hub, set, live
	cfg.Quotas = counters // counted by the engine, served and reset by the admin API, persisted

	// Private apps: sessions in their own bbolt file (written at each login, not with the
	// configuration), the login server on a loopback port the login routes point at.
	sessions, closeSessions, err := openSessions(f.dataDir)
	if err != nil {
		return err
	}
	defer closeSessions()
	cfg.PrivateApps = sessions
	loginLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("cannot listen on loopback for the private-app login pages: %w", err)
	}
	login := auth.NewServer(auth.Options{Sessions: sessions, Logger: log.With("component", "privateapps"),
		Addr: netip.MustParseAddrPort(loginLn.Addr().String())})

	var srv *core.Server
	front, err := startTLSFront(&f.engine.tls, &srv, log, f.dataDir, ready)
	if err != nil {
		return err
	}
	if front != nil {
		cfg.HTTPSPort = front.port()
	}
	if cfg.H2C, err = (&f.engine.tls).h2.serveH2C(&srv, cfg.Logger); err != nil {
		return err
	}
	if cfg.HTTP2, err = f.engine.tls.h2.engineConfig(); err != nil {
		return err
	}
	if srv, err = core.NewServer(cfg); err != nil {
		return err
	}
	acme, err := newACME(&f.acme, log)
	if err != nil {
		return err
	}
	var acmeAt netip.AddrPort
	if acme != nil {
		acmeAt = acme.addr()
	}
	var tlsPub admin.TLSPublisher
	if front != nil {
		tlsPub = front
		front.registerMetrics(set)
	}
	f.engine.tls.h2.registerMetrics(set, &srv)
	reg := route.NewRegistry()
	alerts := newAlerter(hub, log)
	reg.OnEvent = alerts.offer
	health := route.NewHealthChecker(reg, route.HealthOptions{Interval: f.healthEach})

	var webUI http.Handler
	if f.webUI {
		webUI = ui.Handler()
	}
	var leader *cluster.Leader
	var clusterHandler http.Handler
	if f.cluster.on {
		if leader, err = newLeader(&f.cluster, f.dataDir, counters, log); err != nil {
			return err
		}
		leader.OnAlert(func(name string, fields map[string]any) {
			if err := hub.PublishAlert(name, fields); err != nil {
				log.Error("cannot publish cluster alert", "err", err)
			}
		})
		leader.RegisterMetrics(set)
		clusterHandler = leader
	}
	// The NgClientCredentials token endpoint answers with the keys in force: the engine's.
	cc, err := clientcreds.New(func() *apikey.Set {
		if snap := srv.Snapshot(); snap != nil {
			return snap.Keys
		}
		return nil
	}, log)
	if err != nil {
		return err
	}
	defer cc.Close()
	adm, err := admin.New(admin.Options{
		Listen:            f.adminAddr,
		DataDir:           f.dataDir,
		Publisher:         publisher{engine: srv, health: health, leader: leader},
		Cluster:           clusterHandler,
		PrivateApps:       login,
		TLS:               tlsPub,
		ACMEChallenges:    acmeAt,
		ClientCredentials: cc,
		Quotas:            counters,
		Metrics:           set,
		MaxImportEntities: f.maxImportEntities,
		MaxImportBytes:    f.maxImportBytes,
		Live:              live,
		Events:            hub,
		Registry:          reg,
		Logger:            log,
		AllowedHosts:      f.adminHosts,
		ResetAdminKey:     f.resetKey,
		Seed:              seed,
		KeyOut:            keyOut(f.keyFile, adminAt),
		UI:                webUI,
		DNS:               dns.Options{MinTTL: f.dnsMinTTL, MaxTTL: f.dnsMaxTTL},
	})
	if err != nil {
		return err
	}
	persister, err := quota.NewPersister(adm.DB(), admin.BucketQuotas, counters, quota.DefaultFlushEvery)
	if err != nil {
		_ = adm.Close()
		return fmt.Errorf("cannot start the quota persister: %w", err)
	}

	// One failing side (a port in use, a database that stopped working) stops the others.
	run, stopRun := context.WithCancel(ctx)
	defer stopRun()

	// Background workers outlive the engine's drain, so that the last requests are counted,
	// flushed and exported.
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	var wg sync.WaitGroup
	var persistErr error
	spawn := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	spawn(func() { hub.Run(bg) })
	spawn(func() { live.Run(bg) })
	spawn(func() { _ = health.Run(bg) })
	spawn(func() { alerts.run(bg) })
	if acme != nil {
		spawn(func() { acme.run(bg, f.acme.every, adm.ACMECertificates, adm.StoreACMECertificate) })
	}
	spawn(func() {
		// Run returns early only when the database keeps failing: the gateway stops, non-zero.
		if persistErr = persister.Run(bg); persistErr != nil && bg.Err() == nil {
			log.Error("the database is failing: stopping", "err", persistErr)
			stopRun()
		}
	})
	if leader != nil {
		leader.SetSource(adm)
		spawn(func() { leader.Run(bg) })
	}
	spawn(func() {
		if err := login.Serve(bg, loginLn); err != nil {
			log.Error("private-app login server stopped", "err", err)
		}
	})

	adminErr := make(chan error, 1)
	injectFault(srv, adminLn, adm.DB().Close, log)
	adminServed = true
	go func() {
		err := adm.Serve(run, adminLn)
		if err != nil {
			stopRun()
		}
		adminErr <- err
	}()
	if front != nil {
		go front.run(run, srv)
	}
	engineErr := ready.run(run, srv)
	if errors.Is(engineErr, core.ErrServerClosed) {
		engineErr = nil
	}
	stopRun()
	errAdmin := <-adminErr
	stopBG()
	wg.Wait()
	closeErr := adm.Close()
	err = errors.Join(engineErr, errAdmin, persistErr, closeErr)
	if err != nil {
		// Only a signal-driven stop is clean: a service manager restarts on this exit status.
		log.Error("stopped on a failure", "err", err)
		return err
	}
	log.Info("stopped: in-flight requests finished, quota counters flushed, database closed")
	return nil
}

// keyNotice prints the admin key created at first start, with a way to use it.
type keyNotice struct {
	w     io.Writer
	admin string // the admin API's address, as a local client dials it
	buf   []byte
}

func (k *keyNotice) Write(p []byte) (int, error) {
	k.buf = append(k.buf, p...)
	text := string(k.buf)
	id := fieldAfter(text, "clientId:")
	secret := fieldAfter(text, "clientSecret:")
	if id == "" || secret == "" || !strings.HasSuffix(text, "\n") {
		return len(p), nil
	}
	k.buf = k.buf[:0]
	_, err := fmt.Fprintf(k.w, "\n%s"+
		"  Keep it: it is stored hashed and never shown again (torii serve --reset-admin-key makes a new one).\n"+
		"  Try it:  curl -u %s:%s http://%s/api/routes\n\n", text, id, secret, k.admin)
	return len(p), err
}

// keyOut is where the admin API writes a newly created key: a keyFile when path is set, else
// the terminal notice.
func keyOut(path, adminAt string) io.Writer {
	if path != "" {
		return &keyFile{path: path, w: os.Stderr}
	}
	return &keyNotice{w: os.Stderr, admin: adminAt}
}

// fieldAfter returns the word after label in text, or "".
func fieldAfter(text, label string) string {
	_, rest, ok := strings.Cut(text, label)
	if !ok {
		return ""
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
