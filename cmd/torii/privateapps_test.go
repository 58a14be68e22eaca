package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

// The real binary: a route behind AuthModule with a basic module created
// through the admin API asks for a login; after the login the backend is
// reached; a restart on the same data directory keeps the user logged in
// (the session is in privateapps.db).
func TestServePrivateAppSurvivesRestart(t *testing.T) {
	dataDir := t.TempDir()
	g := startGateway(t, dataDir, "off")
	be := testkit.TextBackend(t, "private")
	host, port, _ := net.SplitHostPort(be)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	g.mustAPI(http.StatusCreated, "POST", "/api/auths", fmt.Sprintf(`{"type":"basic","id":"auth_staff","name":"Staff","sessionMaxAge":3600,
		"users":[{"name":"Ann","email":"ann@oto.tools","password":%q}]}`, hash))
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"route_private","name":"private",
		"frontend":{"domains":["private.test"]},"backend":{"targets":[{"hostname":%q,"port":%s}]},
		"plugins":[{"enabled":true,"plugin":"cp:otoroshi.next.plugins.AuthModule","config":{"auth_module":"auth_staff"}}]}`, host, port))

	send := func(proxy, method, path, cookie string, form url.Values) *http.Response {
		t.Helper()
		resp, b := testkit.BrowserRequest(t, proxy, "private.test", method, path, cookie, form)
		resp.Header.Set("X-Test-Body", b)
		return resp
	}
	var resp *http.Response
	testkit.Eventually(t, "the private route asks for a login", func() error {
		if resp = send(g.Proxy, "GET", "/app", "", nil); resp.StatusCode != http.StatusFound {
			return fmt.Errorf("%d", resp.StatusCode)
		}
		return nil
	})
	resp = send(g.Proxy, "GET", resp.Header.Get("Location"), "", nil)
	page := resp.Header.Get("X-Test-Body")
	var csrf string
	for _, c := range resp.Cookies() {
		if c.Name == "oto-papps-csrf" {
			csrf = c.Name + "=" + c.Value
		}
	}
	field := func(name string) string {
		i := strings.Index(page, `name="`+name+`" value="`)
		if i < 0 {
			t.Fatalf("no %s in the login page: %s", name, page)
		}
		rest := page[i+len(`name="`+name+`" value="`):]
		return rest[:strings.IndexByte(rest, '"')]
	}
	resp = send(g.Proxy, "POST", "/.well-known/otoroshi/privateapps/login", csrf, url.Values{"csrf": {field("csrf")}, "route": {field("route")},
		"ref": {field("ref")}, "redirect": {field("redirect")}, "username": {"ann@oto.tools"}, "password": {"s3cret-pass"}})
	var session string
	for _, c := range resp.Cookies() {
		if c.Name == "oto-papps-basic-auth-auth_staff" {
			session = c.Name + "=" + c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == "" {
		t.Fatalf("login: %d %v", resp.StatusCode, resp.Header)
	}
	if resp = send(g.Proxy, "GET", "/app", session, nil); resp.StatusCode != 200 || resp.Header.Get("X-Test-Body") != "private" {
		t.Fatalf("with the session: %d", resp.StatusCode)
	}

	g.Stop()
	g2 := startGateway(t, dataDir, "off")
	if resp = send(g2.Proxy, "GET", "/app", session, nil); resp.StatusCode != 200 || resp.Header.Get("X-Test-Body") != "private" {
		t.Fatalf("the session after a restart: %d", resp.StatusCode)
	}
	if resp = send(g2.Proxy, "GET", "/app", "", nil); resp.StatusCode != http.StatusFound {
		t.Fatalf("no session after a restart: %d", resp.StatusCode)
	}
	g2.Stop()
}
