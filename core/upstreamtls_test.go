package core_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/core/upstls"
	"github.com/torii-gateway/torii/internal/testkit"
	"github.com/torii-gateway/torii/pki"
)

// tlsStore is an upstls.Store over minted certificates.
type tlsStore map[string]*pki.Minted

func (s tlsStore) ClientCert(id string) (*tls.Certificate, bool) {
	m, ok := s[id]
	if !ok {
		return nil, false
	}
	c, err := tls.X509KeyPair([]byte(m.ChainPEM), []byte(m.KeyPEM))
	if err != nil {
		return nil, false
	}
	return &c, true
}

func (s tlsStore) CA(id string) (*x509.Certificate, bool) {
	m, ok := s[id]
	if !ok {
		return nil, false
	}
	return m.Cert, true
}

func mint(t *testing.T, o pki.MintOptions) *pki.Minted { return testkit.Mint(t, o) }

// tlsBackend runs a Go TLS server with cert; with clientCAs it requires a client certificate
// signed by one of them. The handler answers who the client was and whether it resumed.
func tlsBackend(t *testing.T, cert *pki.Minted, clientCAs *x509.CertPool) string {
	t.Helper()
	pair, err := tls.X509KeyPair([]byte(cert.ChainPEM), []byte(cert.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "-"
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		if r.URL.Query().Get("close") != "" {
			w.Header().Set("Connection", "close")
		}
		fmt.Fprintf(w, "sni=%s cn=%s resumed=%v", r.TLS.ServerName, cn, r.TLS.DidResume)
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	if clientCAs != nil {
		ts.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		ts.TLS.ClientCAs = clientCAs
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

// tlsRoute routes domain to one TLS target named host (pinned to addr's IP with ip_address).
func tlsRoute(t testing.TB, domain, host, addr, tlsConfig string) route.Route {
	t.Helper()
	ap, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	doc := fmt.Sprintf(`{"id":%q,"name":%q,"frontend":{"domains":[%q]},"backend":{"targets":[
		{"id":"t","hostname":%q,"port":%d,"tls":true,"ip_address":%q,"tls_config":%s}],
		"client":{"retries":0}}}`, domain, domain, domain, host, p, ap, tlsConfig)
	var r route.Route
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

var upstlsStoreMu sync.Mutex // upstls's store is process-wide

// TestUpstreamTLS: TLS targets against real Go TLS servers: a CA from the store, the system
// roots (unknown authority), a host name mismatch, loose, trust_all, mutual TLS with a good,
// missing and wrong client certificate, and session resumption on a new pooled connection.
// A verification failure is a 502 errors.bad.gateway whose event names the reason.
func TestUpstreamTLS(t *testing.T) {
	upstlsStoreMu.Lock()
	defer upstlsStoreMu.Unlock()
	ca := mint(t, pki.MintOptions{CommonName: "Backend CA", CA: true})
	srvCert := mint(t, pki.MintOptions{CommonName: "backend.test", Hosts: []string{"backend.test"}, Issuer: ca})
	clientCA := mint(t, pki.MintOptions{CommonName: "Client CA", CA: true})
	good := mint(t, pki.MintOptions{CommonName: "torii-good", Client: true, Issuer: clientCA})
	wrong := mint(t, pki.MintOptions{CommonName: "torii-wrong", Client: true})
	upstls.SetStore(tlsStore{"ca": ca, "good": good, "wrong": wrong})
	t.Cleanup(func() { upstls.SetStore(nil) })

	plain := tlsBackend(t, srvCert, nil)
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	mtls := tlsBackend(t, srvCert, pool)

	trustCA := `{"enabled":true,"trusted_certs":["ca"]}`
	o := startObserved(t, 1)
	srv := startProxy(t, o.config(1),
		tlsRoute(t, "ok.test", "backend.test", plain, trustCA),
		tlsRoute(t, "roots.test", "backend.test", plain, `null`),
		tlsRoute(t, "mismatch.test", "other.test", plain, trustCA),
		tlsRoute(t, "loose.test", "other.test", plain, `{"enabled":true,"trusted_certs":["ca"],"loose":true}`),
		tlsRoute(t, "all.test", "other.test", plain, `{"trust_all":true}`),
		tlsRoute(t, "mtls-good.test", "backend.test", mtls, `{"enabled":true,"trusted_certs":["ca"],"certs":["good"]}`),
		tlsRoute(t, "mtls-none.test", "backend.test", mtls, trustCA),
		tlsRoute(t, "mtls-wrong.test", "backend.test", mtls, `{"enabled":true,"trusted_certs":["ca"],"certs":["wrong"]}`),
	)
	cl := client(srv)
	get := func(host, path string) (int, string) {
		t.Helper()
		resp, err := cl.Get("http://" + host + path)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	f := func(host string, status int, body string) {
		t.Helper()
		st, b := get(host, "/")
		if st != status || body != "" && b != body {
			t.Errorf("%s: %d %q, want %d %q", host, st, b, status, body)
		}
	}
	f("ok.test", 200, "sni=backend.test cn=- resumed=false")
	f("roots.test", 502, "")
	f("mismatch.test", 502, "")
	f("loose.test", 200, "sni=other.test cn=- resumed=false")
	f("all.test", 200, "sni=other.test cn=- resumed=false")
	f("mtls-good.test", 200, "sni=backend.test cn=torii-good resumed=false")
	f("mtls-none.test", 502, "")
	f("mtls-wrong.test", 502, "")

	// A new connection to the same target (the backend closed the first) resumes the session.
	if st, b := get("ok.test", "/?close=1"); st != 200 || b != "sni=backend.test cn=- resumed=false" {
		t.Errorf("pooled: %d %q", st, b)
	}
	if st, b := get("ok.test", "/"); st != 200 || b != "sni=backend.test cn=- resumed=true" {
		t.Errorf("new connection: %d %q, want a resumed session", st, b)
	}

	evs := o.waitEvents(t, 10)
	want := map[string]string{
		"roots.test":    "errors.upstream.tls.unknown.authority",
		"mismatch.test": "errors.upstream.tls.hostname.mismatch",
	}
	for _, ev := range evs {
		to, _ := ev["to"].(map[string]any)
		host, _ := to["host"].(string)
		if tg, _ := ev["target"].(map[string]any); tg["scheme"] != "https" {
			t.Errorf("%s event: target scheme %v", host, tg["scheme"])
		}
		if w, ok := want[host]; ok {
			if ev["gwError"] != w || fmt.Sprint(ev["status"]) != "502" {
				t.Errorf("%s event: status %v gwError %v, want 502 %s", host, ev["status"], ev["gwError"], w)
			}
			delete(want, host)
		}
	}
	if len(want) > 0 {
		t.Errorf("no event for %v", want)
	}
}

// BenchmarkProxyGetTLSTarget is BenchmarkProxyGet to a TLS backend (keep-alive, pooled): the
// cost of the socketpair relay and the record layer on the relay goroutines. Compare with
// BenchmarkProxyGet in the same run:
//
//	go test -run '^$' -bench 'ProxyGet$|ProxyGetTLSTarget' -benchtime 20000x -count 3 ./core/
func BenchmarkProxyGetTLSTarget(b *testing.B) {
	cert, err := pki.Mint(pki.MintOptions{CommonName: "bench", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		b.Fatal(err)
	}
	pair, err := tls.X509KeyPair([]byte(cert.ChainPEM), []byte(cert.KeyPEM))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serveFixed(c, []byte(benchResponse)) }()
		}
	}()
	r := tlsRoute(b, "bench.test", "127.0.0.1", ln.Addr().String(), `{"trust_all":true}`)
	srv := startProxy(b, core.Config{Loops: 1}, r)
	bc := newBenchClient(b, srv.Addr().String())
	sendRequests(b, bc, 1000)
}
