package testkit

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// slapdPath is Debian's OpenLDAP server (package slapd, installed by tools/deps.sh).
const slapdPath = "/usr/sbin/slapd"

// Slapd is an OpenLDAP server started by StartSlapd on a loopback port,
// with the suffix dc=torii,dc=test and the root DN cn=admin,dc=torii,dc=test
// (password SlapdAdminPassword).
type Slapd struct {
	URL  string // ldap://127.0.0.1:<port>
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
}

// SlapdAdminPassword is the root DN's password.
const SlapdAdminPassword = "torii-admin-pw"

// StartSlapd loads ldif into a fresh directory and serves it on a free
// loopback port until the test ends (or Kill). It fails the test when slapd
// is not installed.
func StartSlapd(t testing.TB, ldif string) *Slapd {
	t.Helper()
	if _, err := os.Stat(slapdPath); err != nil {
		t.Fatalf("the LDAP tests need Debian's slapd at %s (apt-get install slapd, or tools/deps.sh): %v", slapdPath, err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	cfg := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile %s/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 16777216
suffix "dc=torii,dc=test"
rootdn "cn=admin,dc=torii,dc=test"
rootpw %s
directory %s
`, dir, SlapdAdminPassword, db)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(data, []byte(ldif), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("/usr/sbin/slapadd", "-f", conf, "-l", data).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Slapd{URL: "ldap://" + addr, t: t, done: make(chan struct{})}
	s.cmd = exec.Command(slapdPath, "-f", conf, "-h", s.URL+"/", "-d", "0")
	out := &Buffer{}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("cannot start slapd: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("slapd exited at start:\n%s", out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd not listening on %s within 10s:\n%s", addr, out)
		}
	}
}

// Kill stops slapd (SIGKILL) and waits for it to exit.
func (s *Slapd) Kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
}
