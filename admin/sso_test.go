package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The back office logs in through an auth module: a user with admin rights in the module gets a
// session that works on the API, a user without them gets 403, a wrong password 401; failures are
// throttled; the admin key still works (break-glass).
func TestBackOfficeLoginThroughAuthModule(t *testing.T) {
	engine, login := startPrivateEngine(t)
	e := newEnv(t, func(o *Options) { o.Publisher = engine; o.PrivateApps = login })
	hash, err := bcrypt.GenerateFromPassword([]byte("ops-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/auths", body: map[string]any{"type": "basic", "id": "auth_bo", "name": "Operators",
		"users": []any{
			map[string]any{"name": "Olga", "email": "olga@oto.tools", "password": string(hash), "metadata": map[string]any{"toriiAdmin": true}},
			map[string]any{"name": "Vic", "email": "vic@oto.tools", "password": string(hash), "metadata": map[string]any{}},
		}}})
	sso := e.must(http.StatusOK, req{method: "GET", path: "/api/session/sso", noAuth: true}).obj(t)
	if sso["enabled"] != false {
		t.Fatalf("SSO offered before backOfficeAuthRef is set: %v", sso)
	}
	g := e.must(http.StatusOK, req{method: "GET", path: "/api/globalconfig"}).obj(t)
	g["backOfficeAuthRef"] = "auth_bo"
	e.must(http.StatusOK, req{method: "PUT", path: "/api/globalconfig", body: g})
	sso = e.must(http.StatusOK, req{method: "GET", path: "/api/session/sso", noAuth: true}).obj(t)
	if sso["enabled"] != true || sso["name"] != "Operators" {
		t.Fatalf("SSO offer: %v", sso)
	}

	e.must(http.StatusUnauthorized, req{method: "POST", path: "/api/session", noAuth: true, body: map[string]any{"username": "olga@oto.tools", "password": "nope"}})
	forbidden := e.do(req{method: "POST", path: "/api/session", noAuth: true, body: map[string]any{"username": "vic@oto.tools", "password": "ops-pass"}})
	if forbidden.status != http.StatusForbidden || !strings.Contains(string(forbidden.body), "no admin rights") {
		t.Fatalf("user without rights: %d %s", forbidden.status, forbidden.body)
	}
	ok := e.must(http.StatusOK, req{method: "POST", path: "/api/session", noAuth: true, body: map[string]any{"username": "olga@oto.tools", "password": "ops-pass"}})
	var info struct{ ClientID string }
	_ = json.Unmarshal(ok.body, &info)
	if info.ClientID != "user:olga@oto.tools" {
		t.Fatalf("session of %q", info.ClientID)
	}
	cookie := sessionCookieOf(t, ok)
	e.must(http.StatusOK, req{method: "GET", path: "/api/routes", noAuth: true, header: map[string]string{"Cookie": "torii_session=" + cookie.Value}})
	who := e.must(http.StatusOK, req{method: "GET", path: "/api/session", noAuth: true, header: map[string]string{"Cookie": "torii_session=" + cookie.Value}}).obj(t)
	if who["clientId"] != "user:olga@oto.tools" {
		t.Fatalf("whoami: %v", who)
	}
	// Break-glass: the admin key still works.
	e.must(http.StatusOK, req{method: "GET", path: "/api/routes"})
	// Throttled like the admin key: after 10 failures even the right password is 429.
	for range 10 {
		e.do(req{method: "POST", path: "/api/session", noAuth: true, body: map[string]any{"username": "olga@oto.tools", "password": "guess"}})
	}
	e.must(http.StatusTooManyRequests, req{method: "POST", path: "/api/session", noAuth: true, body: map[string]any{"username": "olga@oto.tools", "password": "ops-pass"}})
}
