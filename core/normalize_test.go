package core_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/apikey"
)

// startPathEcho runs a backend that answers name, a space and the request
// target it received as sent (path and query, undecoded).
func startPathEcho(t *testing.T, name string) string {
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name+" "+r.RequestURI)
	}))
}

// Every spelling of /admin takes the /admin route, and its backend receives
// the normal form; the query goes through untouched.
func TestPathNormalizationRoutes(t *testing.T) {
	admin := startPathEcho(t, "admin")
	public := startPathEcho(t, "public")
	srv := startProxy(t, core.Config{}, testRoute("norm.test/admin", admin), testRoute("norm.test", public))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	f := func(target, want string) {
		t.Helper()
		resp, body := roundTrip(t, c, br, "GET "+target+" HTTP/1.1\r\nHost: norm.test\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != want {
			t.Errorf("GET %s: %d %q, want 200 %q", target, resp.StatusCode, body, want)
		}
	}
	f("/admin", "admin /admin")
	f("/%61dmin", "admin /admin")
	f("//admin", "admin /admin")
	f("/./admin", "admin /admin")
	f("/x/../admin", "admin /admin")
	f("/x/%2E%2e/admin/./users//42?a=%2e%2e/b&c=//d", "admin /admin/users/42?a=%2e%2e/b&c=//d")
	f("/x%2f..%2fadmin", "public /x%2F..%2Fadmin") // an encoded slash is no separator: no dot segment here
	f("/pub/%7euser/", "public /pub/~user/")
	f("/pub/caf%c3%a9", "public /pub/caf%C3%A9")
	f("http://norm.test//admin/../admin/?q", "admin /admin/?q")
}

// A path no normal form can make safe is answered 400 with Otoroshi's JSON
// error, and the connection goes on.
func TestPathNormalizationRejects(t *testing.T) {
	be := startPathEcho(t, "be")
	srv := startProxy(t, core.Config{}, testRoute("norm.test", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	for _, target := range []string{"/../admin", "/x/../../admin", "/%2e%2e/admin", "/a%00b", "/a%0d%0aX:%201", "/a%zz",
		"/a%4", "/a\\..\\admin", "/public/..;/admin"} {
		resp, body := roundTrip(t, c, br, "GET "+target+" HTTP/1.1\r\nHost: norm.test\r\n\r\n", "GET")
		var doc struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &doc); err != nil || resp.StatusCode != 400 || doc.Error != "errors.bad.request" {
			t.Errorf("GET %s: %d %q, want 400 errors.bad.request", target, resp.StatusCode, body)
		}
		if resp.Header.Get("Otoroshi-Error") != "true" {
			t.Errorf("GET %s: no Otoroshi-Error header", target)
		}
	}
	resp, body := roundTrip(t, c, br, "GET /ok HTTP/1.1\r\nHost: norm.test\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "be /ok" {
		t.Errorf("after the refusals: %d %q", resp.StatusCode, body)
	}
}

// A route protected by ApikeyCalls, next to an open route on the same host,
// cannot be reached without a key by spelling its path differently; and
// PublicPrivatePaths judges the path the backend receives.
func TestPathNormalizationNoBypass(t *testing.T) {
	admin := startPathEcho(t, "admin")
	open := startPathEcho(t, "open")
	priv := keyRoute("guard.test/admin", "", "", admin)
	priv.ID = "route_admin"
	pp := keyRoute("pp.test", "", `{"public_patterns":["/public/.*"],"private_patterns":["/public/secret.*"]}`, admin)
	srv, _ := startKeyProxy(t, []apikey.ApiKey{testKey("abc", "s3cr3t")}, nil, priv, testRoute("guard.test", open), pp)
	c := dial(t, srv)
	br := bufio.NewReader(c)
	f := func(host, target string, status int, want string) {
		t.Helper()
		resp, body := roundTrip(t, c, br, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n", "GET")
		if resp.StatusCode != status || (want != "" && body != want) {
			t.Errorf("GET %s%s: %d %q, want %d %q", host, target, resp.StatusCode, body, status, want)
		}
	}
	for _, p := range []string{"/admin", "/%61dmin", "/%41dmin/../admin", "//admin", "/./admin", "/x/../admin", "/open/%2e%2e/admin/x"} {
		f("guard.test", p, 400, "")
	}
	f("guard.test", "/open", 200, "open /open")
	f("pp.test", "/public/a", 200, "admin /public/a")
	f("pp.test", "/public/x/../secret", 400, "")
	f("pp.test", "/public//secret", 400, "")
	f("pp.test", "/public/%73ecret", 400, "")
	f("pp.test", "/public/x/%2e%2e/a", 200, "admin /public/a")
	// With the key, the backend gets the normal form.
	resp, body := roundTrip(t, c, br, "GET /%61dmin/./x HTTP/1.1\r\nHost: guard.test\r\nOtoroshi-Client-Id: abc\r\nOtoroshi-Client-Secret: s3cr3t\r\n\r\n", "GET")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "admin /admin/x") {
		t.Errorf("with a key: %d %q", resp.StatusCode, body)
	}
}
