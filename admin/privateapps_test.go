package admin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

// startPrivateEngine runs an engine with private-app sessions and a login
// server, as cmd/torii wires them.
func startPrivateEngine(t *testing.T) (*core.Server, *auth.Server) {
	t.Helper()
	ss := privateapp.New(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	login := auth.NewServer(auth.Options{Sessions: ss, Addr: netip.MustParseAddrPort(ln.Addr().String())})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = login.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	srv, err := core.NewServer(core.Config{Listen: "127.0.0.1:0", Loops: 1, PrivateApps: ss, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "engine", srv.Run, srv.Ready())
	return srv, login
}

// An Otoroshi export whose route uses AuthModule with a basic module:
// once imported, the route asks for a login, and the export's bcrypt user
// logs in and reaches the backend. The module is listed at /api/auths and
// a broken one is refused naming its field.
func TestImportedAuthModuleAsksForLogin(t *testing.T) {
	engine, login := startPrivateEngine(t)
	e := newEnv(t, func(o *Options) { o.Publisher = engine; o.PrivateApps = login })
	port := startBackend(t, "private backend")
	hash, err := bcrypt.GenerateFromPassword([]byte("password"), 10)
	if err != nil {
		t.Fatal(err)
	}
	export := map[string]any{
		"label": "Otoroshi export", "config": map[string]any{},
		"authConfigs": []any{map[string]any{"type": "basic", "id": "auth_mod_demo", "name": "Demo users", "desc": "",
			"basicAuth": false, "sessionMaxAge": 3600000,
			"users": []any{map[string]any{"name": "John Doe", "password": string(hash), "email": "john.doe@oto.tools", "metadata": map[string]any{}}}},
			// A module type Torii does not run is kept, not refused.
			map[string]any{"type": "saml", "id": "auth_mod_saml", "name": "SAML", "singleSignOnUrl": "https://idp.example/sso"}},
		"routes": []any{map[string]any{"id": "route_private", "name": "private", "enabled": true,
			"frontend": map[string]any{"domains": []string{"private.oto.tools"}},
			"backend":  map[string]any{"targets": []any{map[string]any{"id": "t1", "hostname": "127.0.0.1", "port": port}}},
			"plugins": []any{map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.AuthModule",
				"config": map[string]any{"auth_module": "auth_mod_demo", "pass_with_apikey": false}}}}},
	}
	e.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: export})
	if list := e.must(http.StatusOK, req{method: "GET", path: "/api/auths"}).list(t); len(list) != 2 {
		t.Fatalf("/api/auths lists %d modules", len(list))
	}
	bad := e.do(req{method: "POST", path: "/api/auths", body: map[string]any{"type": "basic", "id": "bad",
		"users": []any{map[string]any{"email": "a@b", "password": "plain-text"}}}})
	if bad.status != http.StatusBadRequest || !strings.Contains(string(bad.body), "users[0].password") {
		t.Fatalf("module with a plain password: %d %s", bad.status, bad.body)
	}

	jar, _ := cookiejar.New(nil)
	addr := engine.Addr().String()
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, string) {
		r, _ := http.NewRequest("GET", u, nil)
		r.Header.Set("Accept", "text/html")
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := get("http://private.oto.tools/app")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("imported private route without session: %d", resp.StatusCode)
	}
	resp, page := get("http://private.oto.tools" + resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d %s", resp.StatusCode, page)
	}
	field := func(name string) string {
		i := strings.Index(page, `name="`+name+`" value="`)
		rest := page[i+len(`name="`+name+`" value="`):]
		return rest[:strings.IndexByte(rest, '"')]
	}
	form := url.Values{"csrf": {field("csrf")}, "route": {field("route")}, "ref": {field("ref")}, "redirect": {field("redirect")},
		"username": {"john.doe@oto.tools"}, "password": {"password"}}
	post, _ := http.NewRequest("POST", "http://private.oto.tools"+auth.Prefix+"login", strings.NewReader(form.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	pr, err := c.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	pr.Body.Close()
	if pr.StatusCode != http.StatusSeeOther || pr.Header.Get("Location") != "/app" {
		t.Fatalf("login with the export's user: %d %q", pr.StatusCode, pr.Header.Get("Location"))
	}
	if resp, body := get("http://private.oto.tools/app"); resp.StatusCode != http.StatusOK || body != "private backend" {
		t.Fatalf("after login: %d %s", resp.StatusCode, body)
	}
	// The export gives the module back.
	exp := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).obj(t)
	if a, _ := exp["authConfigs"].([]any); len(a) != 2 {
		t.Fatalf("export authConfigs = %v", exp["authConfigs"])
	}
}
