package privateapp_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/httpparse"
	"go.etcd.io/bbolt"
)

// parse parses a request head for Check.
func parse(t testing.TB, head string) (*httpparse.Request, []byte) {
	t.Helper()
	buf := []byte(head)
	req := &httpparse.Request{Headers: make([]httpparse.Header, 0, 16)}
	if _, err := httpparse.ParseRequest(buf, req, nil); err != nil {
		t.Fatalf("cannot parse %q: %v", head, err)
	}
	return req, buf
}

func TestCreateCheckDeleteAndRestart(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "s.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := privateapp.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	u := &privateapp.User{Module: "mod1", Name: "Alice", Email: "alice@oto.tools", Metadata: []byte(`{"role":"admin"}`)}
	v, err := s.Create(u, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	check := func(s *privateapp.Sessions, module, cookie string) *privateapp.User {
		req, buf := parse(t, "GET / HTTP/1.1\r\nHost: a\r\nCookie: x=1; "+cookie+"; y=2\r\n\r\n")
		return s.Check(module, "oto-papps-basic-auth-mod1", req, buf, now)
	}
	if got := check(s, "mod1", "oto-papps-basic-auth-mod1="+v); got == nil || got.Email != "alice@oto.tools" {
		t.Fatalf("valid cookie: got %v", got)
	}
	if got := check(s, "mod2", "oto-papps-basic-auth-mod1="+v); got != nil {
		t.Fatal("a cookie of module mod1 passed for mod2")
	}
	forged := v[:len(v)-1] + "A"
	if forged == v {
		forged = v[:len(v)-1] + "B"
	}
	if got := check(s, "mod1", "oto-papps-basic-auth-mod1="+forged); got != nil {
		t.Fatal("a forged MAC passed")
	}
	if got := string(u.LightJSON()); got != `{"name":"Alice","email":"alice@oto.tools","profile":{},"metadata":{"role":"admin"},"tags":[]}` {
		t.Fatalf("LightJSON = %s", got)
	}
	if id := u.Identity(); id.Type != "PRIVATEAPP" || id.ClientID != "alice@oto.tools" || func() string { v, _ := id.Metadata.Get("role"); return v }() != "admin" {
		t.Fatalf("identity = %+v", id)
	}
	// Restart: the same database gives the same secret and session.
	s2, err := privateapp.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if got := check(s2, "mod1", "oto-papps-basic-auth-mod1="+v); got == nil || got.Name != "Alice" {
		t.Fatal("session lost across a restart")
	}
	if err := s2.Delete(u.ID); err != nil {
		t.Fatal(err)
	}
	s3, err := privateapp.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if check(s3, "mod1", "oto-papps-basic-auth-mod1="+v) != nil {
		t.Fatal("deleted session came back after a restart")
	}
	// Expiry.
	if _, err := s3.Create(&privateapp.User{Module: "mod1"}, -time.Second); err != nil {
		t.Fatal(err)
	}
	if n := s3.Prune(); n != 1 {
		t.Fatalf("Prune = %d, want 1", n)
	}
}

// One user of one module keeps at most 32 sessions: the oldest end first.
func TestSessionsPerUserBounded(t *testing.T) {
	s := privateapp.New(nil)
	var first []string
	for i := range 40 {
		v, err := s.Create(&privateapp.User{Module: "m", Email: "a@b"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if i < 8 {
			first = append(first, v)
		}
	}
	if _, err := s.Create(&privateapp.User{Module: "m", Email: "other@b"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 33 {
		t.Fatalf("%d sessions, want 32 for a@b and 1 for other@b", n)
	}
	for _, v := range first {
		if _, ok := s.Lookup("m", v); ok {
			t.Fatal("one of the oldest sessions survived")
		}
	}
}
