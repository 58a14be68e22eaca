package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// sessionCookieOf returns the torii_session cookie a response sets.
func sessionCookieOf(t *testing.T, r resp) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", SessionCookie, r.header)
	return nil
}

func TestSessionLoginLogout(t *testing.T) {
	e := newEnv(t, nil)
	login := func(want int, body any) resp {
		t.Helper()
		return e.must(want, req{method: "POST", path: "/api/session", body: body, noAuth: true})
	}
	login(http.StatusUnauthorized, map[string]string{"clientId": testClientID, "clientSecret": testSecret + "x"})
	login(http.StatusUnauthorized, map[string]string{"clientId": "other", "clientSecret": testSecret})
	bad := login(http.StatusBadRequest, map[string]string{"clientId": testClientID})
	if f := bad.obj(t)["fields"]; f == nil || !strings.Contains(string(bad.body), `"clientSecret"`) {
		t.Fatalf("missing secret not named: %s", bad.body)
	}
	login(http.StatusBadRequest, `{"clientId":`)
	e.must(http.StatusUnsupportedMediaType, req{method: "POST", path: "/api/session", body: nil, noAuth: true})
	e.must(http.StatusForbidden, req{method: "POST", path: "/api/session", noAuth: true,
		body: map[string]string{"clientId": testClientID, "clientSecret": testSecret}, header: map[string]string{"Origin": "http://evil.example"}})

	r := login(http.StatusOK, map[string]string{"clientId": testClientID, "clientSecret": testSecret})
	c := sessionCookieOf(t, r)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || len(c.Value) != 2*sessionTokenBytes || c.MaxAge <= 0 {
		t.Fatalf("cookie %+v", c)
	}
	if got := r.obj(t)["clientId"]; got != testClientID {
		t.Fatalf("login answered %s", r.body)
	}
	cookie := map[string]string{"Cookie": SessionCookie + "=" + c.Value}
	withOrigin := map[string]string{"Cookie": SessionCookie + "=" + c.Value, "Origin": e.base}

	// The cookie authenticates reads, and writes that carry a same-server Origin.
	who := e.must(http.StatusOK, req{method: "GET", path: "/api/session", noAuth: true, header: cookie}).obj(t)
	if who["clientId"] != testClientID || who["via"] != "cookie" {
		t.Fatalf("whoami %v", who)
	}
	e.must(http.StatusOK, req{method: "GET", path: "/api/routes", noAuth: true, header: cookie})
	e.must(http.StatusForbidden, req{method: "POST", path: "/api/groups", noAuth: true, header: cookie, body: `{"id":"g1","name":"g"}`})
	e.must(http.StatusForbidden, req{method: "POST", path: "/api/groups", noAuth: true, body: `{"id":"g1","name":"g"}`,
		header: map[string]string{"Cookie": SessionCookie + "=" + c.Value, "Origin": "http://evil.example"}})
	e.must(http.StatusCreated, req{method: "POST", path: "/api/groups", noAuth: true, header: withOrigin, body: `{"id":"g1","name":"g"}`})
	audit := e.must(http.StatusOK, req{method: "GET", path: "/api/audit/events"}).list(t)
	if ev := audit[0].(map[string]any); ev["who"] != testClientID {
		t.Fatalf("audit of a cookie write: %v", ev)
	}
	// A key still works and says so.
	if v := e.must(http.StatusOK, req{method: "GET", path: "/api/session"}).obj(t)["via"]; v != "key" {
		t.Fatalf("via %v", v)
	}
	// A script's 401 carries no Basic challenge (which would open the browser's own dialog).
	if r := e.must(http.StatusUnauthorized, req{method: "GET", path: "/api/session", noAuth: true,
		header: map[string]string{"X-Requested-With": "torii-ui"}}); r.header.Get("WWW-Authenticate") != "" {
		t.Fatalf("challenge sent to a script: %v", r.header)
	}
	// A forged or unknown token is refused.
	e.must(http.StatusUnauthorized, req{method: "GET", path: "/api/routes", noAuth: true,
		header: map[string]string{"Cookie": SessionCookie + "=" + strings.Repeat("0", 2*sessionTokenBytes)}})

	// Logout ends the session and clears the cookie; a cookie without Origin cannot log out.
	e.must(http.StatusForbidden, req{method: "DELETE", path: "/api/session", noAuth: true, header: cookie})
	out := e.must(http.StatusNoContent, req{method: "DELETE", path: "/api/session", noAuth: true, header: withOrigin})
	if c := sessionCookieOf(t, out); c.Value != "" || c.MaxAge >= 0 {
		t.Fatalf("logout cookie %+v", c)
	}
	e.must(http.StatusUnauthorized, req{method: "GET", path: "/api/session", noAuth: true, header: cookie})
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/api/session", noAuth: true})
}

func TestSessionsBoundedAndExpiring(t *testing.T) {
	var ss sessions
	now := time.Now()
	first, _ := ss.create("a", now)
	if _, ok := ss.lookup(first, now.Add(SessionTTL-time.Second)); !ok {
		t.Fatal("session gone before its TTL")
	}
	if _, ok := ss.lookup(first, now.Add(SessionTTL)); ok {
		t.Fatal("session alive after its TTL")
	}
	oldest, _ := ss.create("a", now)
	for i := 1; i < maxSessions+10; i++ {
		ss.create("a", now.Add(time.Duration(i)*time.Millisecond))
	}
	if len(ss.m) != maxSessions {
		t.Fatalf("%d sessions, want the bound %d", len(ss.m), maxSessions)
	}
	if _, ok := ss.lookup(oldest, now); ok {
		t.Fatal("the oldest session survived past the bound")
	}
}

func TestUIMount(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ui:" + r.URL.Path)) })
	e := newEnv(t, func(o *Options) { o.UI = ui })
	for _, p := range []string{"/", "/app.js", "/vendor/uplot/uPlot.esm.js"} {
		r := e.must(http.StatusOK, req{method: "GET", path: p, noAuth: true})
		if string(r.body) != "ui:"+p || r.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Fatalf("ui %s: %q %v", p, r.body, r.header)
		}
	}
	e.must(http.StatusForbidden, req{method: "GET", path: "/", noAuth: true, header: map[string]string{"Host": "evil.example"}})
	// The API keeps its own answers: unknown API paths are JSON 404s, not the UI.
	e.must(http.StatusUnauthorized, req{method: "GET", path: "/api/routes", noAuth: true})
	if r := e.must(http.StatusNotFound, req{method: "GET", path: "/api/nothing"}); !strings.Contains(string(r.body), "errors.not.found") {
		t.Fatalf("unknown API path: %s", r.body)
	}
	e.must(http.StatusOK, req{method: "GET", path: "/health", noAuth: true})
	// Without a UI, / is a JSON 404.
	e2 := newEnv(t, nil)
	e2.must(http.StatusNotFound, req{method: "GET", path: "/"})
}
