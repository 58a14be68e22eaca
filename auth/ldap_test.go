package auth_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/internal/testkit"
	"github.com/torii-gateway/torii/pki"
)

const ldapDirectory = `dn: dc=torii,dc=test
objectClass: dcObject
objectClass: organization
o: Torii
dc: torii

dn: ou=people,dc=torii,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=torii,dc=test
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,dc=torii,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@torii.test
description: {"team":"ops"}
userPassword: alice-pass

dn: uid=bob,ou=people,dc=torii,dc=test
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
mail: bob@torii.test
userPassword: bob-pass

dn: cn=admins,ou=groups,dc=torii,dc=test
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,dc=torii,dc=test
`

func ldapModule(url string) string {
	return `{"type":"ldap","id":"mod_ldap","name":"Directory","sessionMaxAge":600,"serverUrls":["` + url + `"],
		"searchBase":"dc=torii,dc=test","userBase":"ou=people","searchFilter":"(uid=${username})",
		"groupFilters":[{"group":"(&(objectClass=groupOfNames)(cn=admins))","tenant":"default:rw","team":"default:rw"}],
		"adminUsername":"cn=admin,dc=torii,dc=test","adminPassword":"` + testkit.SlapdAdminPassword + `",
		"nameField":"cn","emailField":"mail","metadataField":"description"}`
}

// The ldap module against Debian's slapd on loopback: a good bind logs in
// and reaches the backend; a wrong password, a user outside the group
// filter and a filter-injection attempt are refused; with the server down
// the login answers 503 in Otoroshi's shape while other routes, and the
// sessions already open, are served as before.
func TestLDAPLogin(t *testing.T) {
	ldap := testkit.StartSlapd(t, ldapDirectory)
	be := testkit.TextBackend(t, "ldap backend")
	other := testkit.TextBackend(t, "public backend")
	st := startStack(t, nil)
	pub := privateRoute("r_pub", "public.test", other, "x")
	pub.Plugins = nil
	st.publish(t, []string{ldapModule(ldap.URL)}, privateRoute("r_ldap", "app.test", be, "mod_ldap"), pub)
	login := "http://app.test/.well-known/otoroshi/privateapps/login?route=r_ldap&redirect=/home"
	try := func(c *http.Client, user, pass string) (*http.Response, string) {
		t.Helper()
		_, page := get(t, c, login)
		if !strings.Contains(page, "User name") {
			t.Fatalf("LDAP login page: %s", page)
		}
		return postForm(t, c, "app.test", page, user, pass, nil)
	}
	c := st.browser(t)
	for _, bad := range [][2]string{{"alice", "wrong"}, {"bob", "bob-pass"}, {"*", "alice-pass"}, {"alice)(uid=*", "alice-pass"}, {"alice", ""}} {
		if resp, body := try(c, bad[0], bad[1]); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("login %q/%q: %d %s", bad[0], bad[1], resp.StatusCode, body)
		}
	}
	resp, _ := try(c, "alice", "alice-pass")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Fatalf("good bind: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := get(t, c, "http://app.test/home"); resp.StatusCode != 200 || body != "ldap backend" {
		t.Fatalf("after login: %d %s", resp.StatusCode, body)
	}
	u := st.sessions.List()
	if len(u) != 1 || u[0].Email != "alice@torii.test" || u[0].Name != "Alice Liddell" || string(u[0].Metadata) != `{"team":"ops"}` ||
		len(u[0].Groups) != 1 || u[0].Groups[0] != "admins" {
		t.Fatalf("session: %+v", u)
	}

	ldap.Kill()
	resp, body := try(st.browser(t), "alice", "alice-pass")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Otoroshi-Error-Cause") != "errors.auth.provider.unavailable" {
		t.Fatalf("server down: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// An API client gets the JSON shape.
	bc := st.browser(t)
	_, page := get(t, bc, login)
	v := url.Values{"csrf": {formValue(page, "csrf")}, "route": {"r_ldap"}, "ref": {"mod_ldap"}, "redirect": {"/"},
		"username": {"alice"}, "password": {"alice-pass"}}
	req := postReq("http://app.test"+auth.Prefix+"login", v)
	req.Header.Set("Accept", "application/json")
	if resp, body := do(t, bc, req); resp.StatusCode != http.StatusServiceUnavailable ||
		body != `{"error":"errors.auth.provider.unavailable","error_description":"The authentication provider is unavailable: try again later"}` {
		t.Fatalf("server down, JSON client: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, c, "http://public.test/"); resp.StatusCode != 200 || body != "public backend" {
		t.Fatalf("other route with the LDAP server down: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, c, "http://app.test/home"); resp.StatusCode != 200 || body != "ldap backend" {
		t.Fatalf("open session with the LDAP server down: %d %s", resp.StatusCode, body)
	}
}

// ldaps://: the module talks TLS to the directory (here a TLS terminator in
// front of slapd, with a certificate for 127.0.0.1), verified against the
// server's roots; a server whose certificate is not trusted is unavailable
// (503), never used in clear.
func TestLDAPSLogin(t *testing.T) {
	ldap := testkit.StartSlapd(t, ldapDirectory)
	cert, err := pki.Mint(pki.MintOptions{CommonName: "ldap test", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair([]byte(cert.ChainPEM), []byte(cert.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	backend := strings.TrimPrefix(ldap.URL, "ldap://")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				go func() { _, _ = io.Copy(b, c) }()
				_, _ = io.Copy(c, b)
			}()
		}
	}()
	be := testkit.TextBackend(t, "ldaps backend")
	module := strings.Replace(ldapModule("ldaps://"+ln.Addr().String()), `"id":"mod_ldap"`, `"id":"mod_ldaps"`, 1)
	login := "http://app.test/.well-known/otoroshi/privateapps/login?route=r_ldaps&redirect=/"
	for _, trusted := range []bool{true, false} {
		roots := x509.NewCertPool()
		if trusted {
			roots.AddCert(cert.Cert)
		}
		st := startStack(t, nil)
		st.login = auth.NewServer(auth.Options{Sessions: st.sessions, LDAPRootCAs: roots})
		st.serveLogin(t)
		st.publish(t, []string{module}, privateRoute("r_ldaps", "app.test", be, "mod_ldaps"))
		c := st.browser(t)
		_, page := get(t, c, login)
		resp, body := postForm(t, c, "app.test", page, "alice", "alice-pass", nil)
		want := http.StatusSeeOther
		if !trusted {
			want = http.StatusServiceUnavailable
		}
		if resp.StatusCode != want {
			t.Fatalf("ldaps, trusted=%v: %d %s", trusted, resp.StatusCode, body)
		}
	}
}
