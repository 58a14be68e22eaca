// Command torii is the Torii gateway binary.
//
//	torii proxy --listen 127.0.0.1:8080 --to http://127.0.0.1:3000 [--to ...]
//	torii serve [--listen :8080] [--admin 127.0.0.1:9000] [--data-dir ./data] [--config routes.json] [--cluster-leader]
//	torii worker --leader http://HOST:PORT --cluster-key-file FILE [--redis HOST:PORT] [--quota-fail open|closed]
//
// proxy is the zero-config quick mode: one catch-all route, round-robin over
// the --to targets, no state. serve runs the whole gateway: the proxy, the
// admin API (Otoroshi-compatible, on --admin, with the web UI at /) over the bbolt state in
// --data-dir, API key quotas persisted across restarts, active health checks,
// data exporters, metrics and live statistics. At first start the database is
// seeded with --config (Otoroshi Route entities, a JSON array or
// {"routes": [...]}) or the embedded demo route for Host demo.torii.local,
// answered by a built-in echo backend on --echo; the admin API key is printed
// once (or written to --admin-key-file, mode 0600, for a service whose stderr
// goes to a journal). With --admin off, serve runs statelessly from the
// routes alone. With --cluster-leader, serve also answers the cluster
// endpoints (/api/cluster/state, /quotas, /members) on the admin address, and
// worker runs a proxy that takes its whole configuration from such a leader
// (package cluster; README "Cluster mode").
//
// Every listen flag (--listen, --admin, --echo) takes port 0 for a free port. Once every
// listener is bound, torii logs one "ready" line with their addresses and, with
// --ready-file PATH, writes them to PATH as JSON, {"proxy":"127.0.0.1:43127",
// "admin":"127.0.0.1:43129","echo":"127.0.0.1:43131"} (admin and echo only when they run),
// so that a script or a test can start torii on free ports without a race.
//
// # Caveats
//
// The proxy listens on all interfaces by default (:8080); the admin API stays
// on loopback unless --admin says otherwise, and then needs --admin-host for
// the Host check. The seeded demo route stores the echo backend's address, so
// --echo should not change between starts of one data directory (with port 0,
// pass the address reported at first start to the later ones). --config
// only seeds an empty database: later changes go through the admin API. On
// SIGTERM or SIGINT the proxy drains (up to --shutdown-grace), then the quota
// counters are flushed and the database closed; a second signal does not cut
// this short, kill -9 does (acknowledged admin writes are fsynced; quota
// counts since the last flush, at most a second, are lost). The ready file is
// removed at start and at a clean exit; after kill -9 a stale one stays until
// the next start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/tlsedge"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "torii:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  torii proxy --listen 127.0.0.1:8080 --to http://127.0.0.1:3000 [--to ...]
  torii serve [--listen :8080] [--admin 127.0.0.1:9000] [--data-dir ./data] [--config routes.json] [--cluster-leader]
  torii worker --leader http://HOST:PORT --cluster-key-file FILE [--listen :8080] [--data-dir DIR] [--redis HOST:PORT]
port 0 in a listen flag picks a free port; --ready-file PATH reports the bound addresses as JSON
run "torii <command> -h" for the flags of a command`

func run(args []string, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("missing command")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch args[0] {
	case "proxy":
		return runProxy(ctx, args[1:], stderr)
	case "serve":
		return runServe(ctx, args[1:], stderr)
	case "worker":
		return runWorker(ctx, args[1:], stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// engineFlags are the flags both commands share.
type engineFlags struct {
	tls           tlsFlags // registered by proxy and serve only
	listen        string
	loops         int
	reusePort     bool
	trustForward  bool
	xfwdByPlugin  bool
	allowConnect  bool
	proxyProtocol bool
	grace         time.Duration
	headerTimeout time.Duration
	idleTimeout   time.Duration
	bodyTimeout   time.Duration
	bodyMinRate   int
	maxBody       int64
	maxConns      int
	poolIdle      int
	poolIdleTime  time.Duration
	highWater     int
	logLevel      string
	noHeadersIn   bool
	noHeadersBack bool
	readyFile     string
}

func (f *engineFlags) register(fs *flag.FlagSet, listen string) {
	fs.StringVar(&f.listen, "listen", listen, "proxy listen address host:port (port 0: a free port, see --ready-file)")
	fs.IntVar(&f.loops, "loops", 0, "event loops (0: GOMAXPROCS)")
	fs.BoolVar(&f.reusePort, "reuseport", false, "one SO_REUSEPORT listener per event loop")
	fs.BoolVar(&f.trustForward, "trust-forwarded", false, "keep client-supplied X-Forwarded-* headers and append to them")
	fs.BoolVar(&f.xfwdByPlugin, "x-forwarded-by-plugin", false, "send X-Forwarded-* only on routes with the XForwardedHeaders plugin, as Otoroshi does (default: on every route)")
	fs.BoolVar(&f.allowConnect, "allow-connect", false, "let CONNECT requests through to the routed target")
	fs.BoolVar(&f.proxyProtocol, "proxy-protocol", false, "expect a PROXY protocol header (v2 or v1) on every connection of --listen, from a TCP load balancer;\n"+
		"its client address is the one routing, IP lists, X-Forwarded-For and events see (only behind such a balancer)")
	fs.DurationVar(&f.grace, "shutdown-grace", core.DefaultShutdownGrace, "time given to in-flight requests on SIGTERM")
	fs.DurationVar(&f.headerTimeout, "header-timeout", core.DefaultHeaderTimeout, "time allowed to send a request head")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", core.DefaultIdleTimeout, "keep-alive idle timeout of client connections")
	fs.DurationVar(&f.bodyTimeout, "body-timeout", core.DefaultIdleTimeout, "longest wait for the next bytes of a request body")
	fs.IntVar(&f.bodyMinRate, "body-min-rate", core.DefaultBodyMinRate, "least average request body rate in bytes/s, after the first --body-timeout (negative: none)")
	fs.Int64Var(&f.maxBody, "max-request-body", core.DefaultMaxRequestBody, "largest request body in bytes, 413 past it (negative: none;\n"+
		"a route's RequestBodyLengthLimiter plugin may set less)")
	fs.IntVar(&f.maxConns, "max-conns", 0, "client connections before answering 503 (0: derived from the file descriptor limit,\n"+
		"3/4 of what a reserve of 256 leaves; negative: no limit)")
	fs.IntVar(&f.poolIdle, "pool-idle", 0, fmt.Sprintf("idle keep-alive connections kept per target and event loop (0: %d, or %d with --h2-server loops)", core.DefaultPoolIdleLimit, core.DefaultH2PoolIdleLimit))
	fs.DurationVar(&f.poolIdleTime, "pool-idle-timeout", core.DefaultPoolIdleTimeout, "close pooled connections idle this long")
	fs.IntVar(&f.highWater, "high-water", core.DefaultHighWater, "buffered bytes past which an exchange moves to a pump goroutine")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&f.noHeadersIn, "no-otoroshi-headers-in", false, "do not send Otoroshi-Request-Id, -Proxied-Host and -Request-Timestamp to backends")
	fs.BoolVar(&f.noHeadersBack, "no-otoroshi-headers-back", false, "do not send Otoroshi-Request-Id, -Request-Timestamp and the latency headers to clients")
	fs.StringVar(&f.readyFile, "ready-file", "", "once every listener is bound, write their addresses to this file as JSON\n"+
		`{"proxy":"127.0.0.1:43127","admin":"127.0.0.1:43129","echo":"127.0.0.1:43131"}`+"\n(written atomically, removed at exit; the \"ready\" log line says the same)")
}

// readiness returns the announcer of the listeners of these flags.
func (f *engineFlags) readiness(log *slog.Logger) *readiness {
	return &readiness{path: f.readyFile, listen: f.listen, log: log}
}

// config is the engine configuration of these flags. It raises the soft file descriptor
// limit to the hard one, to derive --max-conns from it when the flag is 0.
func (f *engineFlags) config(log *slog.Logger) core.Config {
	soft := raiseFDLimit(log)
	maxConns := f.maxConns
	switch {
	case maxConns == 0:
		maxConns = defaultMaxConns(soft)
		log.Info("client connection bound derived from the file descriptor limit", "max_conns", maxConns)
	case maxConns < 0:
		maxConns = 0
	}
	return core.Config{
		Listen:             f.listen,
		Loops:              f.loops,
		ReusePort:          f.reusePort,
		Logger:             log,
		TrustForwarded:     f.trustForward,
		XForwardedByPlugin: f.xfwdByPlugin,
		AllowConnect:       f.allowConnect,
		ProxyProtocol:      f.proxyProtocol,
		ShutdownGrace:      f.grace,
		HeaderTimeout:      f.headerTimeout,
		IdleTimeout:        f.idleTimeout,
		BodyTimeout:        f.bodyTimeout,
		BodyMinRate:        f.bodyMinRate,
		MaxRequestBody:     f.maxBody,
		MaxConns:           maxConns,
		PoolIdleLimit:      f.poolIdle,
		PoolIdleTimeout:    f.poolIdleTime,
		HighWater:          f.highWater,

		NoOtoroshiHeadersIn:   f.noHeadersIn,
		NoOtoroshiHeadersBack: f.noHeadersBack,
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// runProxy is quick mode: one catch-all route to the --to targets.
func runProxy(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ef engineFlags
	var to stringList
	ef.register(fs, "127.0.0.1:8080")
	fs.Var(&to, "to", "backend URL http://host:port, or h2c://host:port for HTTP/2 with prior knowledge (gRPC) (repeat for round-robin)")
	ef.tls.register(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(stderr, ef.logLevel)
	r, err := core.QuickRoute(to)
	if err != nil {
		return err
	}
	table, err := route.Compile([]route.Route{r}, route.CompileOptions{})
	if err != nil {
		return fmt.Errorf("cannot compile quick route: %w", err)
	}
	ready := ef.readiness(log)
	if err := ready.clear(); err != nil {
		return err
	}
	return serveTable(ctx, ef.config(log), table, ready, &ef.tls, "")
}

// serveTable runs a proxy engine over table until ctx is done; ready announces the listeners.
// With --listen-tls, the TLS listener serves the --tls-cert certificates, or without any a
// certificate of the local CA kept in localDir (none when localDir is empty).
func serveTable(ctx context.Context, cfg core.Config, table *route.Table, ready *readiness, tf *tlsFlags, localDir string) error {
	var srv *core.Server
	front, err := startTLSFront(tf, &srv, cfg.Logger, localDir, ready)
	if err != nil {
		return err
	}
	if front != nil {
		cfg.HTTPSPort = front.port()
	}
	if cfg.H2C, err = (tf).h2.serveH2C(&srv, cfg.Logger); err != nil {
		return err
	}
	if cfg.HTTP2, err = tf.h2.engineConfig(); err != nil {
		return err
	}
	if srv, err = core.NewServer(cfg); err != nil {
		return err
	}
	if front != nil {
		front.SetTable(tlsedge.NewTable(nil, tlsedge.TableOptions{}))
		go front.run(ctx, srv)
	}
	srv.Publish(&core.Snapshot{Routes: table, Version: 1})
	err = ready.run(ctx, srv)
	if errors.Is(err, core.ErrServerClosed) {
		return nil
	}
	return err
}
