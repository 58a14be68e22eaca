package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

func TestAuthThrottle(t *testing.T) {
	e := newEnv(t, nil)
	good := map[string]string{"clientId": testClientID, "clientSecret": testSecret}
	cookie := "torii_session=" + sessionCookieOf(t, e.must(http.StatusOK, req{method: "POST", path: "/api/session", noAuth: true, body: good})).Value
	wrongBasic := map[string]string{"Authorization": "Basic " + "YWRtaW46YWRtaW4="}
	before := e.must(http.StatusOK, req{method: "GET", path: "/metrics?format=json"}).obj(t)

	// Failures on the API and on the login form count together, per client address.
	for i := range authFailureLimit {
		if i%2 == 0 {
			e.must(http.StatusUnauthorized, req{method: "POST", path: "/api/session", noAuth: true,
				body: map[string]string{"clientId": testClientID, "clientSecret": fmt.Sprint("guess", i)}})
		} else {
			e.must(http.StatusUnauthorized, req{method: "GET", path: "/api/routes", noAuth: true, header: wrongBasic})
		}
	}
	// Past the limit even the right key is refused, with a JSON 429 that says when to retry.
	for _, q := range []req{
		{method: "GET", path: "/api/routes"},
		{method: "POST", path: "/api/session", noAuth: true, body: good},
		{method: "GET", path: "/api/routes", noAuth: true, header: wrongBasic},
	} {
		r := e.must(http.StatusTooManyRequests, q)
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > int(authFailureWindow/time.Second) {
			t.Fatalf("%s %s: Retry-After %q", q.method, q.path, r.header.Get("Retry-After"))
		}
		if r.obj(t)["error"] != "errors.too.much.requests" || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s %s: %v %s", q.method, q.path, r.header, r.body)
		}
	}
	// Operators see both on /metrics.
	after := e.must(http.StatusOK, req{method: "GET", path: "/metrics?format=json", noAuth: true, header: map[string]string{"Cookie": cookie}}).obj(t)
	n := func(m map[string]any, name string) float64 {
		v, ok := m[name].(json.Number)
		if !ok {
			t.Fatalf("no %s in /metrics: %v", name, m[name])
		}
		f, _ := v.Float64()
		return f
	}
	for name, want := range map[string]float64{"torii_admin_auth_failures_total": authFailureLimit, "torii_admin_auth_throttled_total": 3} {
		if got := n(after, name) - n(before, name); got != want {
			t.Errorf("%s rose by %v, want %v", name, got, want)
		}
	}
	// A session opened before keeps working: its token is not guessable, so it is not throttled.
	e.must(http.StatusOK, req{method: "GET", path: "/api/routes", noAuth: true, header: map[string]string{"Cookie": cookie}})
	// No credentials at all is still a plain 401.
	e.must(http.StatusUnauthorized, req{method: "GET", path: "/api/routes", noAuth: true})
}

func TestAuthFailuresTable(t *testing.T) {
	f := func(a, b string, same bool) {
		t.Helper()
		if got := clientPrefix(a) == clientPrefix(b); got != same {
			t.Errorf("clientPrefix(%s) == clientPrefix(%s): %v, want %v", a, b, got, same)
		}
	}
	f("10.0.0.1:1", "10.0.0.1:2", true)
	f("10.0.0.1:1", "10.0.0.2:1", false)
	f("[::ffff:10.0.0.1]:1", "10.0.0.1:9", true)
	f("[2001:db8::1]:1", "[2001:db8::ffff:1]:2", true)
	f("[2001:db8:0:1::1]:1", "[2001:db8::1]:1", false)
	f("[fe80::1%eth0]:1", "[fe80::2]:1", true)

	var a authFailures
	now := time.Now()
	c := clientPrefix("192.0.2.1:1")
	for i := range authFailureLimit {
		if _, blocked := a.blocked(c, now); blocked {
			t.Fatalf("blocked after %d failures", i)
		}
		a.fail(c, now)
	}
	if wait, blocked := a.blocked(c, now.Add(time.Minute)); !blocked || wait != authFailureWindow-time.Minute {
		t.Fatalf("after %d failures: blocked %v for %v", authFailureLimit, blocked, wait)
	}
	if _, blocked := a.blocked(c, now.Add(authFailureWindow)); blocked {
		t.Fatal("still blocked once the window ended")
	}
	a.forget(c)
	a.fail(c, now)
	if a.m[c].n != 1 {
		t.Fatalf("forget kept %d failures", a.m[c].n)
	}

	// The table is bounded: the window that ends first goes.
	var b authFailures
	first := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, 0}), 32)
	for i := range maxAuthClients + 10 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		b.fail(p, now.Add(time.Duration(i)*time.Millisecond))
	}
	if len(b.m) != maxAuthClients {
		t.Fatalf("%d clients tracked, want the bound %d", len(b.m), maxAuthClients)
	}
	if _, ok := b.m[first]; ok {
		t.Fatal("the oldest client survived past the bound")
	}
}

func TestCrossOriginWrites(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowedHosts = []string{"admin.example.com"} })
	c := sessionCookieOf(t, e.must(http.StatusOK, req{method: "POST", path: "/api/session", noAuth: true,
		body: map[string]string{"clientId": testClientID, "clientSecret": testSecret}}))
	// Another port of the same loopback host: same site (so it gets the SameSite=Strict cookie),
	// and an allowed host name, but not this origin.
	other := "http://127.0.0.1:1"
	n := 0
	group := func() string { n++; return fmt.Sprintf(`{"id":"g%d","name":"g"}`, n) }
	withCookie := func(h map[string]string) map[string]string {
		h["Cookie"] = SessionCookie + "=" + c.Value
		return h
	}
	f := func(want int, auth bool, h map[string]string) {
		t.Helper()
		e.must(want, req{method: "POST", path: "/api/groups", noAuth: !auth, body: group(), header: h})
	}
	f(http.StatusForbidden, false, withCookie(map[string]string{"Origin": other}))
	f(http.StatusForbidden, false, withCookie(map[string]string{"Origin": e.base, "Sec-Fetch-Site": "same-site"}))
	f(http.StatusForbidden, false, withCookie(map[string]string{"Origin": e.base, "Sec-Fetch-Site": "cross-site"}))
	f(http.StatusForbidden, false, withCookie(map[string]string{"Origin": e.base, "Sec-Fetch-Site": "none"}))
	f(http.StatusForbidden, true, map[string]string{"Origin": other}) // a Basic login the browser cached
	f(http.StatusForbidden, true, map[string]string{"Sec-Fetch-Site": "same-site"})
	f(http.StatusCreated, false, withCookie(map[string]string{"Origin": e.base, "Sec-Fetch-Site": "same-origin"}))
	f(http.StatusCreated, true, map[string]string{}) // a script sends neither header
	// Behind a reverse proxy that rewrites Host to the admin's address and says the original one.
	proxied := map[string]string{"Origin": "https://admin.example.com", "Sec-Fetch-Site": "same-origin"}
	f(http.StatusForbidden, false, withCookie(proxied))
	proxied["X-Forwarded-Host"] = "admin.example.com"
	f(http.StatusCreated, false, withCookie(proxied))
	proxied["X-Forwarded-Host"] = "other.example.com, admin.example.com"
	f(http.StatusForbidden, false, withCookie(proxied))
	e.must(http.StatusForbidden, req{method: "DELETE", path: "/api/groups/g1", header: map[string]string{"Origin": other}})
	e.must(http.StatusForbidden, req{method: "DELETE", path: "/api/session", noAuth: true, header: withCookie(map[string]string{"Origin": other})})
	e.must(http.StatusForbidden, req{method: "POST", path: "/api/session", noAuth: true, header: map[string]string{"Sec-Fetch-Site": "cross-site"},
		body: map[string]string{"clientId": testClientID, "clientSecret": testSecret}})
	// Reads from another origin are not refused, but no CORS header lets its page see them.
	for _, q := range []req{
		{method: "GET", path: "/api/routes", header: map[string]string{"Origin": other}},
		{method: "OPTIONS", path: "/api/routes", noAuth: true, header: map[string]string{"Origin": e.base, "Access-Control-Request-Method": "POST"}},
	} {
		r := e.do(q)
		for k := range r.header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Fatalf("%s %s: CORS header %s: %v", q.method, q.path, k, r.header)
			}
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<p>ui</p>")) })
	e := newEnv(t, func(o *Options) { o.UI = ui })
	check := func(r resp, path, csp string) {
		t.Helper()
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Referrer-Policy": "no-referrer", "Content-Security-Policy": csp} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", path, k, got, want)
			}
		}
	}
	for _, q := range []req{{path: "/api/routes"}, {path: "/api/nothing"}, {path: "/api/routes", noAuth: true},
		{path: "/metrics"}, {path: "/health"}} {
		r := e.do(req{method: "GET", path: q.path, noAuth: q.noAuth})
		check(r, q.path, apiCSP)
		if strings.HasPrefix(q.path, "/api/") && r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", q.path, r.header.Get("Cache-Control"))
		}
	}
	r := e.must(http.StatusOK, req{method: "GET", path: "/", noAuth: true})
	check(r, "/", uiCSP)
	for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(uiCSP, want) {
			t.Errorf("UI CSP %q lacks %q", uiCSP, want)
		}
	}
	if strings.Contains(uiCSP, "unsafe") {
		t.Errorf("UI CSP allows unsafe sources: %q", uiCSP)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	e := newEnv(t, nil)
	login := func(h map[string]string) *http.Cookie {
		t.Helper()
		return sessionCookieOf(t, e.must(http.StatusOK, req{method: "POST", path: "/api/session", noAuth: true, header: h,
			body: map[string]string{"clientId": testClientID, "clientSecret": testSecret}}))
	}
	if c := login(nil); c.Secure {
		t.Fatalf("plain HTTP login set a Secure cookie (the browser would never send it back): %+v", c)
	}
	// Behind a TLS-terminating proxy the cookie must never travel in clear.
	first := login(map[string]string{"X-Forwarded-Proto": "https"})
	if !first.Secure || !first.HttpOnly || first.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie behind TLS: %+v", first)
	}
	// Logging in with a cookie already set (planted, or left over) gives a new token and ends the old one.
	old := map[string]string{"Cookie": SessionCookie + "=" + first.Value}
	second := login(old)
	if second.Value == first.Value {
		t.Fatal("login kept the session token the client came with")
	}
	e.must(http.StatusUnauthorized, req{method: "GET", path: "/api/session", noAuth: true, header: old})
	e.must(http.StatusOK, req{method: "GET", path: "/api/session", noAuth: true, header: map[string]string{"Cookie": SessionCookie + "=" + second.Value}})
}

func TestSecretsStayOut(t *testing.T) {
	logs := &testkit.Buffer{}
	e := newEnv(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const (
		created  = "created-key-secret-0000000000000001"
		rotated  = "rotated-key-secret-0000000000000002"
		imported = "imported-key-secret-000000000000003"
		typo     = "admin-secret-for-tests-012345678"
	)
	key := map[string]any{"clientId": "secretkey0000001", "clientName": "k", "clientSecret": created}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: key})
	bad := e.must(http.StatusBadRequest, req{method: "PUT", path: "/api/apikeys/secretkey0000001",
		body: map[string]any{"clientId": "secretkey0000001", "clientName": "k", "clientSecret": created, "throttlingQuota": "x"}})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/apikeys/secretkey0000001", body: map[string]any{"clientSecret": rotated},
		header: map[string]string{"Content-Type": "application/merge-patch+json"}})
	e.must(http.StatusUnauthorized, req{method: "POST", path: "/api/session", noAuth: true,
		body: map[string]string{"clientId": testClientID, "clientSecret": typo}})
	e.must(http.StatusUnauthorized, req{method: "GET", path: "/api/routes", noAuth: true,
		header: map[string]string{"Otoroshi-Client-Id": testClientID, "Otoroshi-Client-Secret": typo}})
	export := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).obj(t)
	export["apiKeys"] = []any{map[string]any{"clientId": "importedkey00001", "clientName": "i", "clientSecret": imported}}
	e.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: export})

	seen := map[string]string{
		"logs":        logs.String(),
		"audit":       string(e.must(http.StatusOK, req{method: "GET", path: "/api/audit/events"}).body),
		"metrics":     string(e.must(http.StatusOK, req{method: "GET", path: "/metrics"}).body),
		"metricsJSON": string(e.must(http.StatusOK, req{method: "GET", path: "/metrics?format=json"}).body),
		"error body":  string(bad.body),
		"whoami":      string(e.must(http.StatusOK, req{method: "GET", path: "/api/session"}).body),
	}
	if !strings.Contains(seen["audit"], "FULL_OTOROSHI_IMPORT") || !strings.Contains(seen["logs"], "admin write") {
		t.Fatalf("the test did not see the writes: audit %s\nlogs %s", seen["audit"], seen["logs"])
	}
	for where, text := range seen {
		for _, secret := range []string{created, rotated, imported, testSecret, typo} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds the secret %q:\n%s", where, secret, text)
			}
		}
	}
}

func TestDatabaseOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh", "data")
	s, err := New(Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler), KeyOut: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f := func(path string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s: mode %v, want at most %v", path, got, want)
		}
	}
	f(dir, 0o700)
	f(filepath.Join(dir, DefaultDBName), 0o600)
	// A database copied in with a loose mode is tightened when opened.
	db := filepath.Join(dir, DefaultDBName)
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err = New(Options{DBPath: db, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f(db, 0o600)
}

// TestHostCheckEverywhere checks that every path but the two liveness probes, the web UI's files
// and the live event stream included, refuses a Host that is not this server's (DNS rebinding:
// a page on evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example), with
// the key and with a session cookie alike.
func TestHostCheckEverywhere(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ui")) })
	e := newEnv(t, func(o *Options) { o.UI = ui })
	c := sessionCookieOf(t, e.must(http.StatusOK, req{method: "POST", path: "/api/session", noAuth: true,
		body: map[string]string{"clientId": testClientID, "clientSecret": testSecret}}))
	paths := []string{"GET /", "GET /app.js", "GET /api/live/route_a?every=100"}
	for _, ep := range e.s.routes {
		if ep.pattern != "/health" && ep.pattern != "/live" {
			paths = append(paths, ep.method+" "+ep.pattern)
		}
	}
	for _, p := range paths {
		method, path, _ := strings.Cut(p, " ")
		for _, auth := range []map[string]string{{"Host": "evil.example"},
			{"Host": "evil.example:9000", "Cookie": SessionCookie + "=" + c.Value, "Origin": "http://evil.example:9000"}} {
			r := e.must(http.StatusForbidden, req{method: method, path: path, body: `{}`, header: auth, noAuth: auth["Cookie"] != ""})
			if r.obj(t)["error"] != "errors.forbidden" {
				t.Fatalf("%s %v: %s", p, auth, r.body)
			}
		}
	}
	// The probes answer any Host: a load balancer or an orchestrator calls them by address.
	for _, p := range []string{"/health", "/live"} {
		e.must(http.StatusOK, req{method: "GET", path: p, noAuth: true, header: map[string]string{"Host": "10.1.2.3:9000"}})
	}
}

// TestAuditRedactsCredentials checks that the credentials a configuration holds for third parties
// (a webhook's Authorization header and URL password, a route's extra backend headers) stay out
// of the audit log, which data exporters may ship elsewhere.
func TestAuditRedactsCredentials(t *testing.T) {
	e := newEnv(t, nil)
	secrets := []string{"hook-bearer-value", "hook-url-password", "backend-api-key-value", "backend-cookie-value"}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/data-exporter-configs", body: map[string]any{
		"id": "exp_hook", "type": "webhook", "enabled": false, "config": map[string]any{
			"url": "https://user:hook-url-password@hooks.example/in", "headers": map[string]string{"Authorization": "Bearer hook-bearer-value"}}}})
	route := routeBody("route_h", "h.example.com", 3001)
	route["plugins"] = []any{map[string]any{"plugin": "cp:otoroshi.next.plugins.AdditionalHeadersIn", "enabled": true,
		"config": map[string]any{"headers": map[string]string{"X-Api-Key": "backend-api-key-value", "Cookie": "sid=backend-cookie-value"}}}}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: route})
	audit := string(e.must(http.StatusOK, req{method: "GET", path: "/api/audit/events"}).body)
	if !strings.Contains(audit, "hooks.example") || !strings.Contains(audit, "h.example.com") {
		t.Fatalf("the audit log misses the writes: %s", audit)
	}
	for _, s := range secrets {
		if strings.Contains(audit, s) {
			t.Errorf("the audit log holds %q: %s", s, audit)
		}
	}
	// The stored configuration keeps them, of course.
	if exp := string(e.must(http.StatusOK, req{method: "GET", path: "/api/data-exporter-configs/exp_hook"}).body); !strings.Contains(exp, "hook-bearer-value") {
		t.Fatalf("stored exporter lost its header: %s", exp)
	}
}

func TestWarnIfExposed(t *testing.T) {
	f := func(listen string, warn bool) {
		t.Helper()
		out := &testkit.Buffer{}
		warnIfExposed(slog.New(slog.NewTextHandler(out, nil)), listen)
		if got := strings.Contains(out.String(), "level=WARN"); got != warn {
			t.Errorf("listen %s: warned %v, want %v: %s", listen, got, warn, out)
		}
	}
	f("127.0.0.1:9000", false)
	f("127.0.0.2:0", false)
	f("[::1]:9000", false)
	f("localhost:9000", false)
	f(":9000", true)
	f("0.0.0.0:9000", true)
	f("[::]:9000", true)
	f("10.0.0.5:9000", true)
	f("admin.example.com:9000", true)
}
