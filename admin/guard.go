package admin

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Brute-force protection of the admin key. The secret is long and random, so guessing it online
// is hopeless anyway; the throttle keeps a chosen (human) bootstrap secret safe too, and keeps a
// guessing client from costing an HMAC per try at line rate.
const (
	// authFailureLimit is how many wrong admin keys (on the API or POST /api/session) one client
	// address may send in one authFailureWindow; past it every credential it sends, right or
	// wrong, gets 429 until the window ends. Enough for typos, far too few to guess a secret.
	authFailureLimit = 10
	// authFailureWindow is the fixed window the failures of one address are counted in.
	authFailureWindow = 5 * time.Minute
	// maxAuthClients bounds the failure table, so that a client rotating source addresses cannot
	// grow it without end; past it the entry whose window ends first is dropped.
	maxAuthClients = 4096
)

var (
	// metricAuthFailures counts wrong admin keys (API and login form): a steady rise is someone
	// guessing.
	metricAuthFailures = metrics.GetOrCreateCounter("torii_admin_auth_failures_total")
	// metricAuthThrottled counts the credentials refused with 429 because their address used up
	// its failures.
	metricAuthThrottled = metrics.GetOrCreateCounter("torii_admin_auth_throttled_total")
)

// failureCount is one client address's failures in the window that ends at until.
type failureCount struct {
	n     int
	until time.Time
}

// authFailures counts failed admin authentications per client address. Safe for concurrent use.
type authFailures struct {
	mu sync.Mutex
	m  map[netip.Prefix]failureCount
}

// clientPrefix is the address a request's failures are counted against: its IPv4 address, or
// the /64 of an IPv6 one (one host usually holds a whole /64, so counting single addresses would
// let it try 2^64 times more). A RemoteAddr that does not parse counts as one shared client.
func clientPrefix(remoteAddr string) netip.Prefix {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, 32)
}

// blocked reports whether client used up its failures, and for how long it stays refused.
func (a *authFailures) blocked(client netip.Prefix, now time.Time) (retryAfter time.Duration, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, found := a.m[client]
	if !found || !now.Before(f.until) || f.n < authFailureLimit {
		return 0, false
	}
	return f.until.Sub(now), true
}

// fail counts one failure of client.
func (a *authFailures) fail(client netip.Prefix, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = make(map[netip.Prefix]failureCount)
	}
	f, found := a.m[client]
	if !found && len(a.m) >= maxAuthClients {
		a.evict(now)
	}
	if !now.Before(f.until) {
		f = failureCount{until: now.Add(authFailureWindow)}
	}
	f.n++
	a.m[client] = f
}

// evict drops the ended windows, and the one that ends first when none has. Called with mu held.
func (a *authFailures) evict(now time.Time) {
	var first netip.Prefix
	var firstUntil time.Time
	for c, f := range a.m {
		if !now.Before(f.until) {
			delete(a.m, c)
			continue
		}
		if firstUntil.IsZero() || f.until.Before(firstUntil) {
			first, firstUntil = c, f.until
		}
	}
	if len(a.m) >= maxAuthClients {
		delete(a.m, first)
	}
}

// forget clears client's failures after it authenticated.
func (a *authFailures) forget(client netip.Prefix) {
	a.mu.Lock()
	delete(a.m, client)
	a.mu.Unlock()
}

// errTooManyFailures is the 429 of a client that used up its authentication failures.
func errTooManyFailures(retryAfter time.Duration) *APIError {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	return &APIError{Status: http.StatusTooManyRequests, Code: "errors.too.much.requests",
		Message: fmt.Sprintf("too many failed admin authentications from this address; retry in %d s", secs), RetryAfter: secs}
}

// verifyKey verifies an admin key sent by the client of r, counting failures against its address.
// A client past authFailureLimit gets errTooManyFailures, even with the right key.
func (s *Server) verifyKey(r *http.Request, id, secret string) error {
	client, now := clientPrefix(r.RemoteAddr), time.Now()
	if wait, ok := s.authFails.blocked(client, now); ok {
		metricAuthThrottled.Inc()
		return errTooManyFailures(wait)
	}
	if ok, readOnly := s.groupKeyAllowed(r, id, secret); ok {
		if readOnly && !isSafeMethod(r.Method) {
			return errForbidden("API key " + id + " is read-only")
		}
		s.authFails.forget(client)
		return nil
	}
	if !s.key.verify(id, secret) {
		metricAuthFailures.Inc()
		s.authFails.fail(client, now)
		s.log.Info("admin authentication refused", "from", r.RemoteAddr, "path", r.URL.Path)
		return errUnauthorized()
	}
	s.authFails.forget(client)
	return nil
}

// checkSameOrigin refuses a state-changing request sent by a browser from any page but this
// server's own (CSRF). Host checks are not enough: a page on another port of the same loopback
// host (a dev server, another local tool) is same-site, so it gets a SameSite=Strict cookie and a
// cached Basic login, and its Origin names an allowed host. A write must therefore carry, when
// the client sends them, Sec-Fetch-Site: same-origin and an Origin whose host and port are the
// request's Host, or its X-Forwarded-Host when a reverse proxy rewrote the Host (a page cannot
// add that header to a cross-origin request without a CORS preflight, which this server never
// grants). Scripts (curl, CI) send neither and are not concerned.
func checkSameOrigin(r *http.Request) error {
	if isSafeMethod(r.Method) {
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return errForbidden("a write must come from the admin's own pages (Sec-Fetch-Site: " + site + ")")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil {
		return errForbidden("a write must come from the admin's own pages (Origin " + origin + " does not parse)")
	}
	forwarded, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ",")
	if forwarded = strings.TrimSpace(forwarded); !strings.EqualFold(u.Host, r.Host) && (forwarded == "" || !strings.EqualFold(u.Host, forwarded)) {
		return errForbidden("a write must come from the admin's own pages (Origin " + origin + " is not " + r.Host + ")")
	}
	return nil
}

// secureCookie reports whether the session cookie gets Secure: when the request came over TLS,
// directly or through a TLS-terminating proxy that says so. A forged X-Forwarded-Proto only makes
// the forger's own browser keep the cookie off plain HTTP.
func secureCookie(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// apiCSP is the Content-Security-Policy of every answer but the UI's (which sets its own): JSON
// and text never run anything, and nothing may frame them.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// securityHeaders sets on every answer the headers that keep a browser from sniffing a JSON
// answer into HTML, framing a page (clickjacking), leaking the admin URL in Referer, letting
// another origin embed an answer, or caching one.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Content-Security-Policy", apiCSP)
		if strings.HasPrefix(r.URL.Path, "/api/") {
			// Answers hold API key secrets (and exports all of them): no cache keeps a copy.
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// ownerOnly removes group and other access from the database file, which holds every API key
// secret and the admin key's hash. bbolt applies its 0600 only when it creates the file, so a file
// restored from a backup or copied by hand would keep the copier's mode.
func ownerOnly(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cannot stat database %s: %w", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(path, perm&^0o077); err != nil {
			return fmt.Errorf("cannot restrict database %s to its owner: %w", path, err)
		}
	}
	return nil
}

// redactURL hides the password of a URL that carries one (https://user:pass@host/, as a webhook
// exporter's might); other strings are returned as they are.
func redactURL(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	return u.Redacted()
}

// warnIfExposed logs a warning when the admin API listens beyond loopback: it speaks plain HTTP,
// so the admin key and session cookies cross the network in clear unless a TLS proxy fronts it.
func warnIfExposed(log *slog.Logger, listen string) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && ip.IsLoopback() || host == "localhost" {
		return
	}
	log.Warn("the admin API listens beyond loopback over plain HTTP: put a TLS proxy in front of it, "+
		"or keep it on 127.0.0.1 and reach it through an SSH tunnel", "listen", listen)
}
