package core_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
)

// authRoute routes domain to target behind the AuthModule plugin of module.
func authRoute(domain, module string, passWithKey bool, target string) route.Route {
	r := testRoute(domain, target)
	cfg, _ := json.Marshal(map[string]any{"auth_module": module, "pass_with_apikey": passWithKey})
	r.Plugins = append(r.Plugins, route.Plugin{Enabled: true, Plugin: "cp:otoroshi.next.plugins.AuthModule", Config: cfg})
	return r
}

// A route behind AuthModule: a browser without a session is sent to the
// login page on the same host with the URL it asked for, an API client gets
// 401 in Otoroshi's shape, a session cookie of the module gets through (its
// event names the user, identityType PRIVATEAPP), and a cookie of another
// module, a forged one or an expired one does not.
func TestAuthModuleGate(t *testing.T) {
	o := startObserved(t, 2)
	be := startHeaderEcho(t)
	ss := privateapp.New(nil)
	ss.SetModules(map[string]*privateapp.Module{
		"mod_a": {ID: "mod_a", Type: "basic", Cookie: privateapp.CookieName("basic", "mod_a"), MaxAge: time.Hour},
		"mod_b": {ID: "mod_b", Type: "basic", Cookie: privateapp.CookieName("basic", "mod_b"), MaxAge: time.Hour},
	})
	cfg := o.config(2)
	cfg.PrivateApps = ss
	q := quota.New(quota.Options{})
	cfg.Quotas = q
	srv := startProxy(t, cfg)
	publishKeys(t, srv, q, 2, nil, nil,
		authRoute("app.test", "mod_a", false, be),
		authRoute("nomod.test", "missing", false, be))
	c := dial(t, srv)
	br := bufio.NewReader(c)

	resp, _ := roundTrip(t, c, br, "GET /dash/x?a=1&b=%2F HTTP/1.1\r\nHost: app.test\r\nAccept: text/html,*/*\r\n\r\n", "GET")
	want := "/.well-known/otoroshi/privateapps/login?route=route_app_test&redirect=%2Fdash%2Fx%3Fa%3D1%26b%3D%252F"
	if resp.StatusCode != 302 || resp.Header.Get("Location") != strings.Replace(want, "%2Fdash%2Fx", "/dash/x", 1) {
		t.Fatalf("browser without session: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := roundTrip(t, c, br, "GET /api HTTP/1.1\r\nHost: app.test\r\nAccept: text/html\r\nX-Requested-With: XMLHttpRequest\r\n\r\n", "GET")
	if resp.StatusCode != 401 || !strings.Contains(body, "errors.auth.required") {
		t.Fatalf("XHR without session: %d %s", resp.StatusCode, body)
	}
	resp, body = roundTrip(t, c, br, "GET /api HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\n\r\n", "GET")
	if resp.StatusCode != 401 || !strings.Contains(body, `"error":"errors.auth.required"`) {
		t.Fatalf("API client without session: %d %s", resp.StatusCode, body)
	}
	resp, body = roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: nomod.test\r\n\r\n", "GET")
	if resp.StatusCode != 500 || !strings.Contains(body, "errors.auth.config.not.found") {
		t.Fatalf("unknown module: %d %s", resp.StatusCode, body)
	}

	va, err := ss.Create(&privateapp.User{Module: "mod_a", Name: "Alice", Email: "alice@oto.tools"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	vb, _ := ss.Create(&privateapp.User{Module: "mod_b", Name: "Bob", Email: "bob@oto.tools"}, time.Hour)
	vold, _ := ss.Create(&privateapp.User{Module: "mod_a", Name: "Old", Email: "old@oto.tools"}, -time.Minute)
	for _, cookie := range []string{
		"oto-papps-basic-auth-mod_a=" + vb,                    // another module's session under this name
		"oto-papps-basic-auth-mod_b=" + vb,                    // another module's cookie
		"oto-papps-basic-auth-mod_a=" + va[:len(va)-2] + "xx", // forged MAC
		"oto-papps-basic-auth-mod_a=" + vold,                  // expired
	} {
		resp, body = roundTrip(t, c, br, "GET /api HTTP/1.1\r\nHost: app.test\r\nCookie: "+cookie+"\r\n\r\n", "GET")
		if resp.StatusCode != 401 {
			t.Fatalf("cookie %q: %d %s", cookie, resp.StatusCode, body)
		}
	}
	resp, body = roundTrip(t, c, br, "GET /api HTTP/1.1\r\nHost: app.test\r\nCookie: theme=dark; oto-papps-basic-auth-mod_a="+va+"\r\n\r\n", "GET")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("valid session: %d %s", resp.StatusCode, body)
	}
	evs := o.waitEvents(t, 9)
	id, _ := evs[8]["identity"].(map[string]any)
	if id == nil || id["identityType"] != "PRIVATEAPP" || id["identity"] != "alice@oto.tools" || id["label"] != "Alice" {
		t.Fatalf("identity of the session's call = %v", evs[8]["identity"])
	}
	if rq, _ := evs[8]["remainingQuotas"].(map[string]any); len(rq) != 0 {
		t.Fatalf("a user's call has quotas: %v", rq)
	}
	if evs[0]["status"] != float64(302) {
		t.Fatalf("redirect event status = %v", evs[0]["status"])
	}
	raw, err := os.ReadFile(o.events)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), va[:20]) || strings.Contains(string(raw), vb[:20]) {
		t.Fatal("an event carries a session cookie")
	}
}

// pass_with_apikey: a valid API key of the route's ApikeyCalls passes
// without a session, a session passes without a key, neither is a login.
func TestAuthModulePassWithApikey(t *testing.T) {
	be := startHeaderEcho(t)
	ss := privateapp.New(nil)
	ss.SetModules(map[string]*privateapp.Module{"mod_a": {ID: "mod_a", Type: "basic", Cookie: privateapp.CookieName("basic", "mod_a"), MaxAge: time.Hour}})
	q := quota.New(quota.Options{})
	srv := startProxy(t, core.Config{Loops: 1, Quotas: q, PrivateApps: ss})
	r := keyRoute("both.test", "", "", be)
	cfg, _ := json.Marshal(map[string]any{"auth_module": "mod_a", "pass_with_apikey": true})
	r.Plugins = append(r.Plugins, route.Plugin{Enabled: true, Plugin: "cp:otoroshi.next.plugins.AuthModule", Config: cfg})
	publishKeys(t, srv, q, 2, []apikey.ApiKey{testKey("key-1", "secret-1")}, nil, r)
	v, _ := ss.Create(&privateapp.User{Module: "mod_a", Email: "a@oto.tools"}, time.Hour)
	c := dial(t, srv)
	br := bufio.NewReader(c)
	for _, tc := range []struct {
		extra string
		want  int
	}{
		{"Otoroshi-Client-Id: key-1\r\nOtoroshi-Client-Secret: secret-1\r\n", 200},
		{"Cookie: oto-papps-basic-auth-mod_a=" + v + "\r\n", 200},
		{"Accept: text/html\r\n", 302},
		{"Otoroshi-Client-Id: key-1\r\nOtoroshi-Client-Secret: wrong\r\n", 401},
	} {
		if resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: both.test\r\n"+tc.extra+"\r\n", "GET"); resp.StatusCode != tc.want {
			t.Fatalf("%q: %d, want %d: %s", tc.extra, resp.StatusCode, tc.want, body)
		}
	}
}
