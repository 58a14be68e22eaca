package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/core/route"
)

// Cookies of the login flow (the session cookie is the module's).
const (
	csrfCookie = "oto-papps-csrf" // login form: double-submit token
	flowCookie = "oto-papps-flow" // OAuth2: binds the callback to the browser that started it
	// flowTTL bounds an OAuth2 login from redirect to callback.
	flowTTL = 10 * time.Minute
	// maxFlows bounds the pending OAuth2 logins kept in memory.
	maxFlows = 10000
	// maxFormBytes bounds a login form body.
	maxFormBytes = 8 << 10
	// loginTimeout bounds one provider exchange (LDAP, token, userinfo).
	loginTimeout = 15 * time.Second
)

// flow is one OAuth2 login under way, by state.
type flow struct {
	state, nonce, verifier string
	module, route          string
	host, redirect         string
	created                time.Time
}

// Server is the login server: an http.Handler for Prefix on every private
// app's domain, reached through the engine (LoginRoutes). Safe for
// concurrent use.
type Server struct {
	sessions  *privateapp.Sessions
	addr      netip.AddrPort
	ldapRoots *x509.CertPool
	log       *slog.Logger
	client    *http.Client
	key       []byte // CSRF token MAC key
	reg       atomic.Pointer[registry]
	throttle  throttle

	mu    sync.Mutex
	flows map[string]*flow

	// providers keeps the OAuth2 providers (their discovery and JWKS
	// caches) across Updates while a module's config is unchanged.
	pmu       sync.Mutex
	providers map[string]*oauthProvider
}

// registry is one published set of modules and private routes.
type registry struct {
	modules map[string]*Config
	routes  map[string]*privateRoute
}

// Options configure a Server.
type Options struct {
	// Sessions is where sessions go; it must be the engine's
	// Config.PrivateApps.
	Sessions *privateapp.Sessions
	// Logger gets login failures and provider errors (never secrets).
	Logger *slog.Logger
	// HTTPClient talks to OAuth2 providers; nil means a client with a 15 s
	// timeout.
	HTTPClient *http.Client
	// Addr is the loopback address the server is served on (Serve's
	// listener), which LoginRoutes sends the login paths to.
	Addr netip.AddrPort
	// LDAPRootCAs verify the certificates of ldaps:// servers; nil means
	// the system's roots.
	LDAPRootCAs *x509.CertPool
}

// NewServer returns a login server with no module.
func NewServer(o Options) *Server {
	s := &Server{sessions: o.Sessions, addr: o.Addr, ldapRoots: o.LDAPRootCAs, log: o.Logger, client: o.HTTPClient,
		flows: map[string]*flow{}, providers: map[string]*oauthProvider{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: loginTimeout}
	}
	s.key = make([]byte, 32)
	_, _ = rand.Read(s.key)
	s.reg.Store(&registry{modules: map[string]*Config{}, routes: map[string]*privateRoute{}})
	return s
}

// Addr is the address the login routes send requests to.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// maintainEvery is how often Serve prunes expired sessions and refreshes
// OAuth2 tokens.
const maintainEvery = time.Minute

// Serve serves the login pages on ln (a loopback listener: only the engine
// talks to it) until ctx ends, and meanwhile prunes expired sessions and
// refreshes tokens every minute.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(maintainEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = hs.Shutdown(sctx)
				cancel()
				return
			case <-t.C:
				if n := s.sessions.Prune(); n > 0 {
					s.log.Info("expired private-app sessions dropped", "count", n)
				}
				if r, e := s.RefreshSessions(ctx); r+e > 0 {
					s.log.Info("private-app sessions refreshed", "refreshed", r, "ended", e)
				}
			}
		}
	}()
	err := hs.Serve(ln)
	stop()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("cannot serve the private-app login pages: %w", err)
}

// Update publishes the auth modules and the routes (to know which route
// uses which module). It also publishes the module catalog to the
// sessions, for the engine: call it before publishing the snapshot.
func (s *Server) Update(modules []*Config, routes []route.Route) {
	reg := &registry{modules: map[string]*Config{}, routes: map[string]*privateRoute{}}
	cat := map[string]*privateapp.Module{}
	for _, c := range modules {
		if c.Unsupported {
			s.log.Warn("auth module kept but not run: Torii does not support its type; routes using it answer 500", "module", c.ID, "type", c.Type)
			continue
		}
		reg.modules[c.ID] = c
		cat[c.ID] = &privateapp.Module{ID: c.ID, Type: c.Type, Cookie: c.Cookie(), MaxAge: c.MaxAge()}
	}
	reg.routes = privateRoutes(routes)
	s.pmu.Lock()
	for id, p := range s.providers {
		if c := reg.modules[id]; c == nil || !sameOAuth(c, p.c) {
			delete(s.providers, id)
		}
	}
	s.pmu.Unlock()
	s.sessions.SetModules(cat)
	s.reg.Store(reg)
}

// provider returns the OAuth2 provider of module c.
func (s *Server) provider(c *Config) *oauthProvider {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	p := s.providers[c.ID]
	if p == nil || p.c != c && !sameOAuth(c, p.c) {
		p = newOAuthProvider(c, s.client)
		s.providers[c.ID] = p
	}
	return p
}

// ServeHTTP serves Prefix+{login,callback,logout,login.css}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer browsers send
	// "Origin: null" on the form's POST, which checkCSRF refuses.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", pageCSP)
	switch strings.TrimPrefix(r.URL.Path, Prefix) {
	case "login":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.loginPage(w, r)
		case http.MethodPost:
			s.loginPost(w, r)
		default:
			writeError(w, r, http.StatusMethodNotAllowed, "errors.method.not.allowed", "Method not allowed")
		}
	case "callback":
		s.callback(w, r)
	case "logout":
		s.logout(w, r)
	case "login.css":
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write([]byte(loginCSS))
	default:
		writeError(w, r, http.StatusNotFound, "errors.service.not.found", "Not found")
	}
}

// target is a login's route, module and return path, read from a query or
// a form.
type target struct {
	rt       *privateRoute
	module   *Config
	redirect string
}

// resolve reads route, ref and redirect from v and checks them against
// the request's host. With several modules and no ref, module is nil.
func (s *Server) resolve(r *http.Request, v url.Values) (*target, int, string) {
	reg := s.reg.Load()
	rt := reg.routes[v.Get("route")]
	if rt == nil {
		return nil, http.StatusNotFound, "Unknown private app"
	}
	if !hostMatches(rt.hosts, requestHost(r)) {
		return nil, http.StatusBadRequest, "This login is not for this host"
	}
	t := &target{rt: rt, redirect: safeRedirect(v.Get("redirect"))}
	ref := v.Get("ref")
	if len(rt.modules) == 1 && ref == "" {
		ref = rt.modules[0]
	}
	for _, m := range rt.modules {
		if m == ref {
			t.module = reg.modules[m]
			if t.module == nil {
				return nil, http.StatusInternalServerError, "Auth. config. not found on the descriptor"
			}
		}
	}
	if ref != "" && t.module == nil {
		return nil, http.StatusBadRequest, "This auth module does not protect this route"
	}
	return t, 0, ""
}

// safeRedirect keeps a return URL only when it is a path on this host:
// "/x" yes; "//evil", "/\evil", "https://evil", control characters no.
// Anything else comes back to "/".
func safeRedirect(s string) string {
	if s == "" || s[0] != '/' || len(s) > 4096 {
		return "/"
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\' {
			return "/"
		}
	}
	return s
}

// requestHost is the request's host, lower case, without port.
func requestHost(r *http.Request) string {
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// secure reports whether the browser came over TLS (the engine sets
// X-Forwarded-Proto).
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(lastValue(r.Header.Get("X-Forwarded-Proto")), "https")
}

// clientKey is the client address failures are counted against: the last
// X-Forwarded-For entry, which the engine wrote (an IPv6 address by /64).
func clientKey(r *http.Request) string {
	a := lastValue(r.Header.Get("X-Forwarded-For"))
	if a == "" {
		a, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return "ip:?"
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip.String()
}

func lastValue(v string) string {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// loginPage answers GET login: the form (basic, ldap), the browser's Basic
// prompt (basicAuth), the provider redirect (oauth2), or the choice of
// module (MultiAuthModule).
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	t, code, msg := s.resolve(r, r.URL.Query())
	if t == nil {
		writeError(w, r, code, "errors.auth.bad.request", msg)
		return
	}
	if t.module == nil {
		s.render(w, http.StatusOK, choosePage(t, s.reg.Load()))
		return
	}
	switch {
	case t.module.Type == TypeOAuth2:
		s.startOAuth(w, r, t)
	case t.module.BasicAuth:
		s.basicPrompt(w, r, t)
	default:
		s.form(w, r, t, http.StatusOK, "")
	}
}

// form renders the login form with a fresh CSRF token.
func (s *Server) form(w http.ResponseWriter, r *http.Request, t *target, status int, problem string) {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: Prefix, MaxAge: int(flowTTL / time.Second),
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
	s.render(w, status, formPage(t, s.csrfToken(tok), problem))
}

func (s *Server) csrfToken(cookie string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF verifies the form's token against the browser's cookie, and
// the Origin when the browser sent one.
func (s *Server) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	return subtle.ConstantTimeCompare([]byte(s.csrfToken(c.Value)), []byte(r.PostFormValue("csrf"))) == 1
}

// loginPost checks the form of a basic or ldap module.
func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeError(w, r, http.StatusBadRequest, "errors.bad.request", "Bad login form")
		return
	}
	t, code, msg := s.resolve(r, r.PostForm)
	if t == nil || t.module == nil {
		if t != nil {
			code, msg = http.StatusBadRequest, "No auth module chosen"
		}
		writeError(w, r, code, "errors.auth.bad.request", msg)
		return
	}
	if t.module.Type == TypeOAuth2 {
		writeError(w, r, http.StatusBadRequest, "errors.auth.bad.request", "This module logs in through its provider")
		return
	}
	if !s.checkCSRF(r) {
		s.form(w, r, t, http.StatusForbidden, "Your login form expired. Please try again.")
		return
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	id, status := s.authenticate(w, r, t.module, username, r.PostFormValue("password"))
	if id == nil {
		switch status {
		case http.StatusUnauthorized:
			s.form(w, r, t, status, "Invalid user name or password.")
		case http.StatusForbidden:
			s.form(w, r, t, status, "You are not allowed to use this application.")
		}
		return
	}
	s.startSession(w, r, t, id)
}

// Errors of Login.
var (
	// ErrLoginRefused: unknown user, wrong password, or a user the module
	// does not allow (allowedUsers, deniedUsers, group filters).
	ErrLoginRefused = errors.New("auth: login refused")
	// ErrNoPasswordLogin: the module logs in through a provider's pages
	// (oauth2), not with a password.
	ErrNoPasswordLogin = errors.New("auth: this module has no password login")
	// errNotAllowed: good credentials, but the module does not let this user in.
	errNotAllowed = fmt.Errorf("%w: user not allowed", ErrLoginRefused)
)

// ThrottledError: the client or the user failed too many logins; retry
// after RetryAfter.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("auth: too many failed logins, retry in %v", e.RetryAfter.Round(time.Second))
}

// Login checks username and password with the module moduleID (basic or
// ldap), throttled per client (its address, as the caller counts it) and
// per user as the login pages are. It blocks on bcrypt or the directory:
// call it on a request goroutine. Errors: ErrLoginRefused, *ThrottledError,
// ErrLDAPUnavailable, ErrNoPasswordLogin, or an unknown module.
func (s *Server) Login(ctx context.Context, moduleID, username, password, client string) (*Identity, *Config, error) {
	c := s.reg.Load().modules[moduleID]
	if c == nil {
		return nil, nil, fmt.Errorf("auth: no auth module %q", moduleID)
	}
	id, err := s.check(ctx, c, username, password, "ip:"+client)
	return id, c, err
}

// check checks credentials with module c, throttled by client and user.
func (s *Server) check(ctx context.Context, c *Config, username, password, client string) (*Identity, error) {
	now := time.Now()
	keys := []string{client, "user:" + c.ID + ":" + strings.ToLower(username)}
	if wait, blocked := s.throttle.blocked(now, keys...); blocked {
		return nil, &ThrottledError{RetryAfter: wait}
	}
	var id *Identity
	var err error
	switch c.Type {
	case TypeBasic:
		id, err = basicLogin(c, username, password)
	case TypeLDAP:
		ctx, cancel := context.WithTimeout(ctx, loginTimeout)
		id, err = ldapLogin(ctx, c, username, password, s.ldapRoots)
		cancel()
	default:
		return nil, ErrNoPasswordLogin
	}
	if err != nil {
		if errors.Is(err, ErrLDAPUnavailable) {
			s.log.Warn("auth module unavailable", "module", c.ID, "err", err)
			return nil, err
		}
		s.throttle.fail(now, keys...)
		s.log.Info("login failed", "module", c.ID, "client", keys[0])
		return nil, ErrLoginRefused
	}
	if !allowed(c, id) {
		s.throttle.fail(now, keys...)
		return nil, errNotAllowed
	}
	return id, nil
}

// authenticate is check for the login pages. On failure it answers itself
// for 429/503 and returns the status for the caller to render 401/403.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, c *Config, username, password string) (*Identity, int) {
	id, err := s.check(r.Context(), c, username, password, clientKey(r))
	var te *ThrottledError
	switch {
	case err == nil:
		return id, 0
	case errors.As(err, &te):
		w.Header().Set("Retry-After", strconv.Itoa(int(te.RetryAfter/time.Second)+1))
		writeError(w, r, http.StatusTooManyRequests, "errors.too.much.requests", "Too many failed logins: try again later")
		return nil, http.StatusTooManyRequests
	case errors.Is(err, ErrLDAPUnavailable):
		writeError(w, r, http.StatusServiceUnavailable, "errors.auth.provider.unavailable",
			"The authentication provider is unavailable: try again later")
		return nil, http.StatusServiceUnavailable
	case errors.Is(err, errNotAllowed):
		return nil, http.StatusForbidden
	}
	return nil, http.StatusUnauthorized
}

// Module returns the published auth module id, or nil.
func (s *Server) Module(id string) *Config { return s.reg.Load().modules[id] }

// basicPrompt serves a module with basicAuth: the browser's own prompt.
func (s *Server) basicPrompt(w http.ResponseWriter, r *http.Request, t *target) {
	user, pass, ok := r.BasicAuth()
	if ok {
		if id, status := s.authenticate(w, r, t.module, user, pass); id != nil {
			s.startSession(w, r, t, id)
			return
		} else if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			return
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="`+t.module.Cookie()+`", charset="UTF-8"`)
	writeError(w, r, http.StatusUnauthorized, "errors.auth.required", "Authentication required")
}

// startSession makes a new session for id, ends the one the browser had for
// this module (no fixation: the id is always new), sets the cookie and
// sends the browser back.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, t *target, id *Identity) {
	c := t.module
	if old, err := r.Cookie(c.Cookie()); err == nil {
		if u, ok := s.sessions.Lookup(c.ID, old.Value); ok {
			_ = s.sessions.Delete(u.ID)
		}
	}
	u := &privateapp.User{Module: c.ID, Realm: privateapp.RealmOf(c.Type, c.ID), Name: id.Name, Email: id.Email,
		Profile: id.Profile, Metadata: id.Metadata, Tags: id.Tags, Groups: id.Groups,
		RefreshToken: id.RefreshToken, IDToken: id.IDToken}
	val, err := s.sessions.Create(u, c.MaxAge())
	if err != nil {
		s.log.Error("cannot create a session", "module", c.ID, "err", err)
		writeError(w, r, http.StatusServiceUnavailable, "errors.auth.session.unavailable", "Cannot create a session: try again later")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: c.Cookie(), Value: val, Path: "/", MaxAge: int(c.MaxAge() / time.Second),
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Path: Prefix, MaxAge: -1})
	s.log.Info("login", "module", c.ID, "route", t.rt.id, "user", u.Email)
	http.Redirect(w, r, t.redirect, http.StatusSeeOther)
}

// startOAuth sends the browser to the provider.
func (s *Server) startOAuth(w http.ResponseWriter, r *http.Request, t *target) {
	p := s.provider(t.module)
	if err := p.ready(); err != nil {
		s.log.Warn("OAuth2 provider unavailable", "module", t.module.ID, "err", err)
		writeError(w, r, http.StatusBadGateway, "errors.auth.provider.unavailable", "The authentication provider is unavailable: try again later")
		return
	}
	f := &flow{state: randomToken(), nonce: randomToken(), verifier: randomVerifier(), module: t.module.ID,
		route: t.rt.id, host: requestHost(r), redirect: t.redirect, created: time.Now()}
	s.mu.Lock()
	if len(s.flows) >= maxFlows {
		for k, old := range s.flows {
			if time.Since(old.created) > flowTTL || len(s.flows) >= maxFlows {
				delete(s.flows, k)
			}
		}
	}
	s.flows[f.state] = f
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: f.state, Path: Prefix, MaxAge: int(flowTTL / time.Second),
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, p.authURL(s.callbackURL(r, t.module), f), http.StatusFound)
}

// callbackURL is the redirect_uri: the module's callbackUrl, or the login
// server's callback on the request's host.
func (s *Server) callbackURL(r *http.Request, c *Config) string {
	if c.CallbackURL != "" {
		return c.CallbackURL
	}
	scheme := "http"
	if secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + Prefix + "callback"
}

// callback ends an OAuth2 login.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	s.mu.Lock()
	f := s.flows[state]
	delete(s.flows, state) // one use, success or not
	s.mu.Unlock()
	c, err := r.Cookie(flowCookie)
	if f == nil || err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 ||
		time.Since(f.created) > flowTTL || f.host != requestHost(r) {
		writeError(w, r, http.StatusBadRequest, "errors.auth.bad.state", "This login is unknown, expired or was started by another browser")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Path: Prefix, MaxAge: -1})
	if e := q.Get("error"); e != "" {
		writeError(w, r, http.StatusUnauthorized, "errors.auth.refused", "The provider refused the login: "+sanitize(e))
		return
	}
	reg := s.reg.Load()
	mod, rt := reg.modules[f.module], reg.routes[f.route]
	if mod == nil || rt == nil {
		writeError(w, r, http.StatusInternalServerError, "errors.auth.config.not.found", "Auth. config. not found on the descriptor")
		return
	}
	p := s.provider(mod)
	if err := p.ready(); err != nil {
		writeError(w, r, http.StatusBadGateway, "errors.auth.provider.unavailable", "The authentication provider is unavailable: try again later")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), loginTimeout)
	defer cancel()
	id, err := p.exchange(ctx, s.callbackURL(r, mod), q.Get("code"), f)
	if err != nil {
		s.log.Warn("OAuth2 login failed", "module", mod.ID, "err", err)
		if errors.Is(err, errProvider) {
			writeError(w, r, http.StatusBadGateway, "errors.auth.provider.unavailable", "The authentication provider failed: try again later")
			return
		}
		writeError(w, r, http.StatusUnauthorized, "errors.auth.bad.token", "The provider's token was refused")
		return
	}
	if !allowed(mod, id) {
		writeError(w, r, http.StatusForbidden, "errors.auth.user.not.allowed", "You are not allowed to use this application")
		return
	}
	s.startSession(w, r, &target{rt: rt, module: mod, redirect: f.redirect}, id)
}

// logout ends the browser's sessions of the route's modules and sends it
// to the provider's logout (oauth2 with a logout URL) or to a page that
// says it is logged out.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	reg := s.reg.Load()
	var mods []*Config
	if rt := reg.routes[r.URL.Query().Get("route")]; rt != nil && hostMatches(rt.hosts, requestHost(r)) {
		for _, m := range rt.modules {
			if c := reg.modules[m]; c != nil {
				mods = append(mods, c)
			}
		}
	} else {
		for _, c := range reg.modules { // no route: every module's cookie on this host
			mods = append(mods, c)
		}
	}
	var provider string
	for _, c := range mods {
		ck, err := r.Cookie(c.Cookie())
		if err != nil {
			continue
		}
		if u, ok := s.sessions.Lookup(c.ID, ck.Value); ok {
			if err := s.sessions.Delete(u.ID); err != nil {
				s.log.Error("cannot delete a session", "module", c.ID, "err", err)
			}
			if c.Type == TypeOAuth2 && provider == "" {
				provider = s.providerLogout(r, c, u.IDToken)
			}
			s.log.Info("logout", "module", c.ID, "user", u.Email)
		}
		http.SetCookie(w, &http.Cookie{Name: c.Cookie(), Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
	}
	if provider != "" {
		http.Redirect(w, r, provider, http.StatusFound)
		return
	}
	s.render(w, http.StatusOK, loggedOutPage(safeRedirect(r.URL.Query().Get("redirect"))))
}

// providerLogout returns the provider's end-session URL for the user, "" when
// the module has none.
func (s *Server) providerLogout(r *http.Request, c *Config, idToken string) string {
	p := s.provider(c)
	if p.ready() != nil || p.endSess == "" {
		return ""
	}
	u, err := url.Parse(p.endSess)
	if err != nil {
		return ""
	}
	q := u.Query()
	if idToken != "" {
		q.Set("id_token_hint", idToken)
	}
	scheme := "http"
	if secure(r) {
		scheme = "https"
	}
	q.Set("post_logout_redirect_uri", scheme+"://"+r.Host+Prefix+"logout")
	q.Set("client_id", c.ClientID)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// randomVerifier is a PKCE code verifier (RFC 7636: 43-128 characters).
func randomVerifier() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sanitize keeps a provider's error code printable and short.
func sanitize(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

// RefreshSessions refreshes the tokens of the sessions of oauth2 modules
// with refreshTokens: a refreshed profile replaces the session's, a refused
// refresh token ends the session (the user was logged out or disabled at
// the provider). Run it every few minutes on its own goroutine; it returns
// how many sessions were refreshed and ended.
func (s *Server) RefreshSessions(ctx context.Context) (refreshed, ended int) {
	reg := s.reg.Load()
	for _, u := range s.sessions.List() {
		c := reg.modules[u.Module]
		if c == nil || c.Type != TypeOAuth2 || !c.RefreshTokens || u.RefreshToken == "" {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, loginTimeout)
		id, err := s.provider(c).refresh(rctx, u.RefreshToken)
		cancel()
		switch {
		case errors.Is(err, errToken):
			_ = s.sessions.Delete(u.ID)
			ended++
		case err != nil:
			s.log.Warn("token refresh failed", "module", c.ID, "err", err)
		default:
			nu := *u
			nu.Name, nu.Email, nu.Profile, nu.Groups = id.Name, id.Email, id.Profile, id.Groups
			if len(id.Metadata) > 0 {
				nu.Metadata = id.Metadata
			}
			nu.RefreshToken, nu.IDToken = id.RefreshToken, id.IDToken
			if err := s.sessions.Replace(&nu); err == nil {
				refreshed++
			}
		}
	}
	return refreshed, ended
}

// sameOAuth reports whether two oauth2 configs talk to the same provider
// the same way (so its caches can be kept).
func sameOAuth(a, b *Config) bool {
	return a.Type == b.Type && a.ClientID == b.ClientID && a.ClientSecret == b.ClientSecret &&
		a.AuthorizeURL == b.AuthorizeURL && a.TokenURL == b.TokenURL && a.UserInfoURL == b.UserInfoURL &&
		a.oidcIssuer() == b.oidcIssuer() && a.jwksURL() == b.jwksURL() && a.LogoutURL == b.LogoutURL &&
		a.Scope == b.Scope && a.ReadProfileFromToken == b.ReadProfileFromToken &&
		a.NameField == b.NameField && a.EmailField == b.EmailField && a.OtoroshiDataField == b.OtoroshiDataField
}
