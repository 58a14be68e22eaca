package clustertest

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

// A worker serves a route behind AuthModule with the leader's auth module: it asks for a login,
// its own login pages log the user in, and its session is its own (sessions are per node: the
// leader's proxy does not know it).
func TestWorkerPrivateApp(t *testing.T) {
	l := startLeader(t, t.TempDir(), "")
	be := testkit.TextBackend(t, "private backend")
	host, port, _ := net.SplitHostPort(be)
	hash, err := bcrypt.GenerateFromPassword([]byte("w-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	l.mustAPI(t, http.StatusCreated, "POST", "/api/auths", fmt.Sprintf(`{"type":"basic","id":"auth_w","name":"Workers",
		"users":[{"name":"Wes","email":"wes@oto.tools","password":%q}]}`, hash))
	l.mustAPI(t, http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":"route_pa","name":"pa",
		"frontend":{"domains":["pa.test"]},"backend":{"targets":[{"hostname":%q,"port":%s}]},
		"plugins":[{"enabled":true,"plugin":"cp:otoroshi.next.plugins.AuthModule","config":{"auth_module":"auth_w"}}]}`, host, port))
	wdir := t.TempDir()
	w := startWorker(t, l.Admin, l.keyFile, wdir, "pa-worker", "")

	send := func(proxy, method, path, cookie string, form url.Values) (*http.Response, string) {
		t.Helper()
		return testkit.BrowserRequest(t, proxy, "pa.test", method, path, cookie, form)
	}
	var resp *http.Response
	testkit.Eventually(t, "the worker asks for a login on the private route", func() error {
		if resp, _ = send(w.Proxy, "GET", "/app", "", nil); resp.StatusCode != http.StatusFound {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
	resp, page := send(w.Proxy, "GET", resp.Header.Get("Location"), "", nil)
	var csrf string
	for _, ck := range resp.Cookies() {
		if ck.Name == "oto-papps-csrf" {
			csrf = ck.Name + "=" + ck.Value
		}
	}
	field := func(name string) string {
		i := strings.Index(page, `name="`+name+`" value="`)
		if i < 0 {
			t.Fatalf("worker login page (HTTP %d) has no %s: %s", resp.StatusCode, name, page)
		}
		rest := page[i+len(`name="`+name+`" value="`):]
		return rest[:strings.IndexByte(rest, '"')]
	}
	resp, _ = send(w.Proxy, "POST", "/.well-known/otoroshi/privateapps/login", csrf, url.Values{"csrf": {field("csrf")}, "route": {"route_pa"},
		"ref": {"auth_w"}, "redirect": {"/app"}, "username": {"wes@oto.tools"}, "password": {"w-pass"}})
	var session string
	for _, ck := range resp.Cookies() {
		if ck.Name == "oto-papps-basic-auth-auth_w" {
			session = ck.Name + "=" + ck.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == "" {
		t.Fatalf("login on the worker: HTTP %d", resp.StatusCode)
	}
	if resp, body := send(w.Proxy, "GET", "/app", session, nil); resp.StatusCode != http.StatusOK || body != "private backend" {
		t.Fatalf("worker with its session: HTTP %d %s", resp.StatusCode, body)
	}
	if resp, _ := send(l.Proxy, "GET", "/app", session, nil); resp.StatusCode != http.StatusFound {
		t.Fatalf("the leader's proxy took the worker's session (sessions are per node): HTTP %d", resp.StatusCode)
	}
	// A worker keeps no database, not even for its sessions (they are in its memory).
	if dbs, _ := filepath.Glob(filepath.Join(wdir, "*.db")); len(dbs) > 0 {
		t.Fatalf("the worker opened a database: %v", dbs)
	}
}
