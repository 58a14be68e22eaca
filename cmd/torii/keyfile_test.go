package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/internal/testkit"
)

// With --admin-key-file, a new admin key goes to that file, mode 0600, and never to stderr; the
// key in the file opens the admin API. A directory where the file cannot be written stops the
// start before a key is created.
func TestServeAdminKeyFile(t *testing.T) {
	p, path, id, secret := serveWithAdminKeyFile(t)
	dir := filepath.Dir(path)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v (%v)", fi.Mode(), err)
	}
	testkit.Eventually(t, "the key notice", func() error {
		if !strings.Contains(p.Out.String(), "shown nowhere else") {
			return errors.New("not printed yet")
		}
		return nil
	})
	if out := p.Out.String(); strings.Contains(out, secret) || !strings.Contains(out, path) {
		t.Fatalf("stderr shows the secret or not the file: %s", out)
	}
	for _, c := range []struct {
		secret string
		want   int
	}{{secret, http.StatusOK}, {"wrong", http.StatusUnauthorized}} {
		req, _ := http.NewRequest("GET", "http://"+p.Admin+"/api/routes", nil)
		req.SetBasicAuth(id, c.secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("admin API with secret %q: %d, want %d", c.secret, resp.StatusCode, c.want)
		}
	}
	p.Stop()

	bad := filepath.Join(dir, "missing", "admin-key")
	out, err := runTorii(t, "serve", "--listen", anyPort, "--admin", anyPort, "--echo", "off",
		"--data-dir", filepath.Join(dir, "data2"), "--admin-key-file", bad)
	if err == nil || !strings.Contains(string(out), "--admin-key-file") {
		t.Fatalf("a key file in a missing directory: err %v, output %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data2", "torii.db")); err == nil {
		t.Fatal("a database was created although the key could not be written")
	}
}

// serveWithAdminKeyFile starts torii serve with a fresh data directory and --admin-key-file, and
// returns the process, the key file's path and the client id and secret the file holds.
func serveWithAdminKeyFile(t *testing.T) (p *testkit.Torii, path, id, secret string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "admin-key")
	p = testkit.StartTorii(t, toriiBin, "serve", "--listen", anyPort, "--admin", anyPort, "--echo", "off",
		"--data-dir", filepath.Join(dir, "data"), "--admin-key-file", path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no key file: %v", err)
	}
	m := regexp.MustCompile(`clientId: (\S+)\nclientSecret: (\S+)\n`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatalf("key file holds %q", raw)
	}
	return p, path, m[1], m[2]
}
