package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
	"github.com/torii-gateway/torii/pki"
)

// TestTLSClientCertMatching: NgHasClientCertMatchingValidator's serial_numbers, issuer_dns and
// regex_issuer_dns through real mTLS connections: the serial number and issuer DN travel from the
// TLS listener to the route's check in the PROXY v2 header. Matching certificates pass, the
// others get 403, and a configuration with no list lets nothing through (Otoroshi's rule).
func TestTLSClientCertMatching(t *testing.T) { bothRelays(t, testTLSClientCertMatching) }

func testTLSClientCertMatching(t *testing.T) {
	p := newTLSPKI(t)
	ca2, err := pki.Mint(pki.MintOptions{CommonName: "Second Issuer", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	backend := testkit.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "subject=%s", r.Header.Get("X-Client-Cert-Subject"))
	}))
	g := startGateway(t, t.TempDir(), "off", "--listen-tls", anyPort, "--tls-relay", tlsRelay)
	client := func(issuer *pki.Minted, cn string) (*tls.Certificate, *x509.Certificate) {
		m, err := pki.Mint(pki.MintOptions{CommonName: cn, Client: true, Issuer: issuer})
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair([]byte(m.ChainPEM), []byte(m.KeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return &c, leaf
	}
	alice, aliceLeaf := client(p.ca, "alice")
	bob, bobLeaf := client(ca2, "bob")
	if aliceLeaf.Issuer.String() == bobLeaf.Issuer.String() {
		t.Fatal("test needs two issuers")
	}
	// The serial as openssl prints it (upper case, colons); Otoroshi's form is lower-case hex.
	serialHex := aliceLeaf.SerialNumber.Text(16)
	if len(serialHex)%2 == 1 {
		serialHex = "0" + serialHex
	}
	var colons []string
	for i := 0; i < len(serialHex); i += 2 {
		colons = append(colons, strings.ToUpper(serialHex[i:i+2]))
	}
	// Bob's issuer DN written the way Java prints it, with a space after each comma.
	bobIssuer := strings.ReplaceAll(bobLeaf.Issuer.String(), ",", ", ")

	target := []any{map[string]any{"hostname": "127.0.0.1", "port": portOf(t, backend)}}
	routes := map[string]map[string]any{
		"serial":       {"serial_numbers": []string{"abc", strings.Join(colons, ":")}},
		"issuer":       {"issuer_dns": []string{bobIssuer}},
		"issuer-wild":  {"issuer_dns": []string{"CN=Second*"}},
		"issuer-regex": {"regex_issuer_dns": []string{"CN=Sec.nd Issuer(,.*)?"}},
		"subject":      {"subject_dns": []string{"CN=alice*"}},
		"nothing":      {},
	}
	var hosts []string
	for id, cfg := range routes {
		hosts = append(hosts, id+".mtls.test")
		g.mustAPI(http.StatusCreated, "POST", "/api/routes", map[string]any{"id": id, "name": id,
			"frontend": map[string]any{"domains": []string{id + ".mtls.test"}}, "backend": map[string]any{"targets": target},
			"plugins": []any{map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.NgHasClientCertMatchingValidator", "config": cfg}}})
	}
	_, _, srv := p.issue("server", hosts...)
	g.mustAPI(http.StatusCreated, "POST", "/api/certificates", map[string]any{"id": "server", "chain": srv.ChainPEM, "privateKey": srv.KeyPEM})
	g.mustAPI(http.StatusCreated, "POST", "/api/certificates", map[string]any{"id": "ca-1", "chain": p.ca.ChainPEM, "ca": true})
	g.mustAPI(http.StatusCreated, "POST", "/api/certificates", map[string]any{"id": "ca-2", "chain": ca2.ChainPEM, "ca": true})

	call := func(host string, cert *tls.Certificate) int {
		t.Helper()
		c, err := tls.Dial("tcp", g.TLS, &tls.Config{ServerName: host, RootCAs: p.roots, Certificates: []tls.Certificate{*cert}})
		if err != nil {
			t.Fatalf("handshake %s: %v", host, err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	for _, c := range []struct {
		route      string
		alice, bob int
	}{
		{"serial", 200, 403},
		{"issuer", 403, 200},
		{"issuer-wild", 403, 200},
		{"issuer-regex", 403, 200},
		{"subject", 200, 403},
		{"nothing", 403, 403},
	} {
		if got := call(c.route+".mtls.test", alice); got != c.alice {
			t.Errorf("%s with alice (serial %s, issuer %s): %d, want %d", c.route, aliceLeaf.SerialNumber.Text(16), aliceLeaf.Issuer, got, c.alice)
		}
		if got := call(c.route+".mtls.test", bob); got != c.bob {
			t.Errorf("%s with bob (issuer %s): %d, want %d", c.route, bobLeaf.Issuer, got, c.bob)
		}
	}
	// A bad regular expression is refused at publish, naming the field.
	code, b := g.api("POST", "/api/routes", map[string]any{"id": "bad", "name": "bad",
		"frontend": map[string]any{"domains": []string{"bad.mtls.test"}}, "backend": map[string]any{"targets": target},
		"plugins": []any{map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.NgHasClientCertMatchingValidator",
			"config": map[string]any{"regex_issuer_dns": []string{"("}}}}})
	if code != http.StatusBadRequest || !strings.Contains(string(b), "regex_issuer_dns[0]") {
		t.Fatalf("bad regex_issuer_dns: %d %s", code, b)
	}
}
