package admin

import (
	"context"
	"errors"
	"fmt"
	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/clientcreds"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torii-gateway/torii/core/dns"
	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/jsonx"
	"go.etcd.io/bbolt"
)

// Defaults for Options.
const (
	DefaultListen  = "127.0.0.1:9000"
	DefaultDataDir = "./data"
	DefaultDBName  = "torii.db"
	// DefaultMaxBody caps an entity body: far above any real entity, small enough that a client
	// cannot make the server buffer gigabytes.
	DefaultMaxBody = 1 << 20
	// importBodyFactor multiplies the cap for POST /api/otoroshi.json, a whole export.
	importBodyFactor = 32
)

// Options configures a Server.
type Options struct {
	// Listen is the admin address (DefaultListen when empty). It should stay on loopback unless
	// AllowedHosts names the public host.
	Listen string
	// DataDir holds torii.db (DefaultDataDir when empty); DBPath, when set, overrides the file.
	DataDir string
	DBPath  string
	// Publisher receives every new snapshot; nil publishes nowhere (the API still works).
	Publisher Publisher
	// ACMEChallenges, when valid, is the loopback address of the ACME HTTP-01 challenge server:
	// each certificate marked letsEncrypt gets a route "<domain>/.well-known/acme-challenge" to it.
	ACMEChallenges netip.AddrPort
	// Now is the clock of the certificate expiry alerts; nil: time.Now.
	Now func() time.Time
	// TLS, when set, receives the SNI table compiled from the certificates with every snapshot.
	TLS TLSPublisher
	// PrivateApps, when set, is the private-app login server (package auth): each compile adds
	// the routes to its login pages for the domains of the routes behind AuthModule, and each
	// publish hands it the auth modules (/api/auths) and the routes first.
	PrivateApps *auth.Server
	// ClientCredentials, when set, is the NgClientCredentials token endpoint (package
	// clientcreds): each compile adds the routes to it for the domains of the routes with the
	// plugin, and each publish hands it their configs. Its keys should be Server.Keys.
	ClientCredentials *clientcreds.Server
	// Quotas serves /api/apikeys/{id}/quotas; nil answers 501 there.
	Quotas *quota.Counters
	// Metrics, when set, is appended to /metrics (the proxy's per-route metrics).
	Metrics *metric.Set
	// Live serves /api/live and /api/live/{id}; nil answers 501 there.
	Live *metric.Live
	// Events, when set, runs the stored data exporters (/api/data-exporter-configs), reconfigured
	// after each committed change, and receives every audit event.
	Events *event.Hub
	// Registry, when set, is the route registry every compile uses (runtime state of targets:
	// health, circuit breakers), so that the caller can share it with a health checker and set
	// its OnEvent before New; nil uses a private one.
	Registry *route.Registry
	// Logger gets structured logs without secrets; nil uses slog.Default().
	Logger *slog.Logger
	// AllowedHosts are host names (without port) accepted in Host and Origin besides loopback.
	AllowedHosts []string
	// BootstrapClientID and BootstrapClientSecret, when set, are used as the admin key created at
	// first start instead of random ones. Ignored when a key is already stored.
	BootstrapClientID, BootstrapClientSecret string
	// ResetAdminKey replaces the stored admin key with a new one (printed once to KeyOut, or the
	// bootstrap one), for an operator who lost it. The old key stops working.
	ResetAdminKey bool
	// KeyOut receives the generated admin key once, at first start (os.Stderr when nil).
	KeyOut io.Writer
	// MaxBodyBytes caps request bodies (DefaultMaxBody when zero).
	MaxBodyBytes int64
	// MaxImportEntities caps each list of an imported export (DefaultMaxImportEntities when
	// zero); a longer list is refused with a 400 naming the list and this limit.
	MaxImportEntities int
	// MaxImportBytes caps the body of an import (MaxBodyBytes × 32 when zero).
	MaxImportBytes int64
	// DNS configures the cache that resolves target host names in the background (the zero
	// value reads /etc/resolv.conf and /etc/hosts, TTL floor 5 s and ceiling 5 min). OnChange
	// and Log are set by New.
	DNS dns.Options
	// UI, when set, is served at / (every path outside /api/ and the health endpoints) without
	// the admin key, with the Host/Origin check; it logs in with POST /api/session and then calls
	// this API with the session cookie.
	UI http.Handler
	// Seed is imported as the initial configuration when the database holds no route, group or
	// key and was never seeded: an Otoroshi export, a JSON array of routes or {"routes": [...]}.
	// It must compile, or New fails. Once a seed was imported, later starts ignore it.
	Seed []byte
	// Cluster, when set, serves /api/cluster/ (cluster mode's leader endpoints, package cluster)
	// behind the Host check; it authenticates its callers itself.
	Cluster http.Handler
}

// Server is the admin API. Create it with New, serve with Run or Handler, release with Close.
type Server struct {
	// writePhases, when set (by tests, under mu), receives the time of each write's phases:
	// edit and compile, bbolt commit (fsynced), publish.
	writePhases func(compile, commit, publish time.Duration)

	opts         Options
	log          *slog.Logger
	db           *bbolt.DB
	key          *adminKey
	allowedHosts []string
	handler      http.Handler
	routes       []endpoint

	mu sync.Mutex // serializes writers: build, compile, commit, publish
	// importMu serializes imports (taken before mu): one streams and stages at a time.
	importMu sync.Mutex
	version  uint64 // snapshot version, guarded by mu
	cur      atomic.Pointer[state]
	ready    atomic.Bool
	lastErr  atomic.Pointer[string] // why the last compile failed, for /ready and logs
	// published is the last compiled configuration handed to the publisher.
	published atomic.Pointer[compiled]

	compiler *compiler
	// alerts receives the certificate expiry alerts (Options.Events); certAlerts remembers them
	// and guards alerts.
	alerts     alertPublisher
	certAlerts certAlerts
	// names resolves target host names on its own goroutine (names.go).
	names     *dns.Cache
	stopNames func()
	namesDone chan struct{}
	// exportersApplied identifies the exporter configs last handed to Options.Events; guarded by mu.
	exportersApplied string
	sessions         sessions // the web UI's login sessions
	authFails        authFailures
}

// New opens the database (creating and migrating it), creates the admin key on first start,
// compiles and publishes the stored state, and prepares the HTTP handler. It does not listen.
func New(opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.DBPath == "" {
		dir := opts.DataDir
		if dir == "" {
			dir = DefaultDataDir
		}
		opts.DBPath = filepath.Join(dir, DefaultDBName)
	}
	if opts.MaxImportEntities <= 0 {
		opts.MaxImportEntities = DefaultMaxImportEntities
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBody
	}
	if opts.MaxImportBytes <= 0 {
		opts.MaxImportBytes = opts.MaxBodyBytes * importBodyFactor
	}
	if opts.KeyOut == nil {
		opts.KeyOut = os.Stderr
	}
	if (opts.BootstrapClientID == "") != (opts.BootstrapClientSecret == "") {
		return nil, fmt.Errorf("%w: set both BootstrapClientID and BootstrapClientSecret, or neither", ErrBadOptions)
	}
	s := &Server{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, h := range opts.AllowedHosts {
		s.allowedHosts = append(s.allowedHosts, strings.ToLower(strings.TrimSpace(h)))
	}
	if h, _, err := net.SplitHostPort(opts.Listen); err == nil && h != "" {
		s.allowedHosts = append(s.allowedHosts, strings.ToLower(strings.Trim(h, "[]")))
	}
	warnIfExposed(s.log, opts.Listen)
	db, err := openDB(opts.DBPath)
	if err != nil {
		return nil, err
	}
	s.db = db
	key, secret, err := loadOrCreateAdminKey(db, opts.BootstrapClientID, opts.BootstrapClientSecret, opts.ResetAdminKey)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.key = key
	if secret != "" && opts.BootstrapClientSecret == "" {
		// Printed once, to the operator's terminal, never to the logs.
		if _, err := fmt.Fprintf(opts.KeyOut, "torii: created the admin API key (shown only once)\n  clientId:     %s\n  clientSecret: %s\n", key.ClientID, secret); err != nil {
			db.Close()
			return nil, fmt.Errorf("cannot hand out the new admin API key (start again with --reset-admin-key for another one): %w", err)
		}
	}
	defer loadingGC()()
	st, err := loadState(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.startNames(opts.DNS)
	s.compiler = newCompiler(s.log, s.names)
	s.compiler.counters = opts.Quotas
	s.compiler.acme = opts.ACMEChallenges
	if opts.Events != nil {
		s.alerts = opts.Events
	}
	s.registerCertMetrics()
	s.compiler.login = opts.PrivateApps
	s.compiler.cc = opts.ClientCredentials
	if opts.Registry != nil {
		s.compiler.reg = opts.Registry
	}
	if len(opts.Seed) > 0 && !seeded(db) && st.empty() {
		if st, err = s.seed(st, opts.Seed); err != nil {
			s.stopNames()
			db.Close()
			return nil, err
		}
	} else if len(opts.Seed) > 0 {
		s.log.Info("initial configuration not imported: the database already holds one", "db", opts.DBPath)
	}
	s.pruneQuotas(st)
	publish, err := s.compiler.compile(st, 1)
	if err == nil && s.primeNames(publish.routes, startupDNSWait) {
		publish, err = s.compiler.compile(st, 1)
	}
	if err != nil {
		// The stored state no longer compiles (for example a target host that no longer
		// resolves): serve the admin API so it can be fixed, publish nothing, say why.
		msg := err.Error()
		s.lastErr.Store(&msg)
		s.log.Error("stored configuration does not compile; nothing published", "err", err)
	} else {
		s.version = 1
		s.publish(publish)
	}
	s.cur.Store(st)
	if err := s.applyExporters(st); err != nil {
		// Stored exporters that cannot start (a file that can no longer be opened): serve the
		// API so that they can be fixed.
		s.log.Error("stored data exporters not started", "err", err)
	}
	s.routes = s.endpoints()
	s.handler = s.buildHandler()
	return s, nil
}

// loadingGCPercent is the garbage collector's target while New loads and compiles the stored
// configuration. Loading allocates a growing live heap (a million compiled keys) and garbage
// beside it; at the default 100 the collector marks the growing heap again and again, about a
// third of the start's CPU time at 100k keys (TestScale, GOGC=100 against 400: 1.1 s against
// 0.64-0.84 s). The price is a higher heap peak while loading; GOMEMLIMIT still bounds it.
const loadingGCPercent = 400

// loadingGC raises the GC target for loading, unless the operator set GOGC, and returns what
// restores it.
func loadingGC() func() {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(loadingGCPercent)
	if prev < 0 || prev > loadingGCPercent { // off, or already higher: leave it
		debug.SetGCPercent(prev)
		return func() {}
	}
	return func() { debug.SetGCPercent(prev) }
}

// DB returns the bbolt database, shared with the quota persister (bucket BucketQuotas). It stays
// valid until Close.
func (s *Server) DB() *bbolt.DB { return s.db }

// Handler returns the admin API handler, for tests or to mount it elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// Close closes the database. Call it after Run returned.
func (s *Server) Close() error {
	s.stopNames()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("cannot close database: %w", err)
	}
	return nil
}

// Run listens on Options.Listen and serves until ctx is done, then shuts down gracefully (5 s).
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", s.opts.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// Long-lived answers (the live event streams) end when shutdown begins.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv.BaseContext = func(net.Listener) context.Context { return base }
	srv.RegisterOnShutdown(cancelBase)
	s.log.Info("admin API listening", "addr", ln.Addr().String())
	go s.watchCertExpiry(base)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("cannot serve admin API: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Connections still open after the grace period are closed: a request
		// still running, or a connection that never sent one (net/http counts
		// such a connection as active for its first 5 s; Go's client leaves one
		// behind when it dials for a request that an idle connection then
		// took). Neither is a failure of the admin API's shutdown.
		_ = srv.Close()
		s.log.Warn("admin API: connections closed at the end of the shutdown grace period", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("cannot serve admin API: %w", err)
	}
	return nil
}

// Run is the whole admin lifecycle for cmd/torii: New, Run until ctx is done, Close.
func Run(ctx context.Context, opts Options) error {
	s, err := New(opts)
	if err != nil {
		return err
	}
	err = s.Run(ctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// endpoint is one documented operation. The OpenAPI document lists exactly these.
type endpoint struct {
	method  string
	pattern string // net/http pattern syntax, which is also OpenAPI's path syntax
	public  bool   // no admin key needed
	h       func(w http.ResponseWriter, r *http.Request) error
}

// buildHandler registers each path once and dispatches on the method inside, so that a wrong
// method gets a JSON 405 with Allow, and every error goes through writeError.
func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	byPath := map[string][]endpoint{}
	var paths []string
	for _, e := range s.routes {
		if _, ok := byPath[e.pattern]; !ok {
			paths = append(paths, e.pattern)
		}
		byPath[e.pattern] = append(byPath[e.pattern], e)
	}
	for _, p := range paths {
		eps := byPath[p]
		mux.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			method := r.Method
			if method == http.MethodHead {
				method = http.MethodGet
			}
			var allow []string
			for _, e := range eps {
				if e.method == method {
					s.serve(w, r, e)
					return
				}
				allow = append(allow, e.method)
			}
			sort.Strings(allow)
			s.serve(w, r, endpoint{public: eps[0].public, h: func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Allow", strings.Join(allow, ", "))
				return &APIError{Status: http.StatusMethodNotAllowed, Code: "errors.method.not.allowed", Message: r.Method + " is not allowed here"}
			}})
		}))
	}
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, endpoint{h: func(http.ResponseWriter, *http.Request) error { return errNotFound("path " + r.URL.Path) }})
	})
	mux.Handle("/api/", notFound)
	if s.opts.Cluster != nil {
		mux.Handle("/api/cluster/", s.clusterHandler(s.opts.Cluster))
	}
	if s.opts.UI != nil {
		mux.Handle("/", s.uiHandler(s.opts.UI))
	} else {
		mux.Handle("/", notFound)
	}
	return securityHeaders(mux)
}

// uiCSP lets the UI's pages load and run only its own files: no inline script or style, no eval,
// no plugin, no frame around it, no base or form pointing elsewhere. Data rendered as HTML by
// mistake still cannot run.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// uiHandler serves the web UI without the admin key (its pages hold no data; the data comes from
// the API), behind the Host/Origin check; securityHeaders keeps it out of frames and other origins.
func (s *Server) uiHandler(ui http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkOrigin(r); err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Security-Policy", uiCSP)
		ui.ServeHTTP(w, r)
	})
}

// serve runs the host, origin and auth checks, then the endpoint, rendering any error.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, e endpoint) {
	r, err := s.authorize(r, e.public)
	if err == nil {
		err = e.h(w, r)
	}
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			s.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(noChallengeFor(w, r), err)
	}
}

// authorize checks Host/Origin and, unless public, the admin key. The returned request's context
// carries the client id (see who).
func (s *Server) authorize(r *http.Request, public bool) (*http.Request, error) {
	if public {
		return r, nil
	}
	if err := s.checkOrigin(r); err != nil {
		return r, err
	}
	if err := checkSameOrigin(r); err != nil {
		return r, err
	}
	id, secret, ok := credentials(r)
	if !ok {
		return s.sessionAuth(r)
	}
	if err := s.verifyKey(r, id, secret); err != nil {
		return r, err
	}
	return withWho(r, id), nil
}

// readBody enforces a JSON content type (or a patch type when patch) and the body cap, and
// returns the body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64, patch bool) ([]byte, error) {
	if err := checkBodyType(r, patch); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge(limit)
		}
		return nil, errBadRequest("cannot read body: " + err.Error())
	}
	return body, nil
}

// checkBodyType refuses a body that is not JSON (or a JSON patch when patch).
func checkBodyType(r *http.Request, patch bool) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	patchType := mt == "application/merge-patch+json" || mt == "application/json-patch+json"
	if err != nil || !(mt == "application/json" || (patch && patchType)) {
		return errUnsupportedMedia(ct)
	}
	return nil
}

// errTooLarge is the 413 of a body over limit bytes.
func errTooLarge(limit int64) *APIError {
	return &APIError{Status: http.StatusRequestEntityTooLarge, Code: "errors.entity.too.large", Message: fmt.Sprintf("body larger than %d bytes", limit)}
}

// writeRead answers a GET with body, or 304 when If-None-Match names its ETag (set by the caller,
// or computed from body).
func writeRead(w http.ResponseWriter, r *http.Request, body []byte) {
	h := w.Header()
	if h.Get("ETag") == "" {
		h.Set("ETag", jsonx.ETag(body))
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == h.Get("ETag") {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// writeJSON writes a 2xx JSON body with an ETag.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if h.Get("ETag") == "" {
		h.Set("ETag", jsonx.ETag(body))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) writeValue(w http.ResponseWriter, status int, v any) error {
	body, err := jsonx.Encode(v)
	if err != nil {
		return err
	}
	writeJSON(w, status, body)
	return nil
}

// now is the server's clock (Options.Now).
func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}
