package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
	"github.com/torii-gateway/torii/pki"
)

// tlsPKI is a test CA and the PEM files of certificates it issued.
type tlsPKI struct {
	t     *testing.T
	dir   string
	ca    *pki.Minted
	roots *x509.CertPool
}

func newTLSPKI(t *testing.T) *tlsPKI {
	t.Helper()
	ca, err := pki.Mint(pki.MintOptions{CommonName: "Torii test CA", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &tlsPKI{t: t, dir: t.TempDir(), ca: ca, roots: x509.NewCertPool()}
	p.roots.AddCert(ca.Cert)
	if err := os.WriteFile(filepath.Join(p.dir, "ca.pem"), []byte(ca.ChainPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue writes name.pem and name.key for hosts and returns their paths and the certificate.
func (p *tlsPKI) issue(name string, hosts ...string) (certPath, keyPath string, m *pki.Minted) {
	p.t.Helper()
	m, err := pki.Mint(pki.MintOptions{CommonName: name, Hosts: hosts, Issuer: p.ca})
	if err != nil {
		p.t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+".key")
	if err := os.WriteFile(certPath, []byte(m.ChainPEM), 0o644); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, []byte(m.KeyPEM), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return certPath, keyPath, m
}

// servedCN does one handshake with sni and returns the served certificate's CN.
func servedCN(t *testing.T, addr, sni string, roots *x509.CertPool) string {
	t.Helper()
	cfg := &tls.Config{ServerName: sni, RootCAs: roots}
	if sni == "" || roots == nil {
		cfg = &tls.Config{ServerName: sni, InsecureSkipVerify: true}
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("handshake with SNI %q: %v", sni, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// forwardedBackend answers with the X-Forwarded-Proto and -For it got.
func forwardedBackend(t *testing.T) string {
	return testkit.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s for=%s host=%s", r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-For"), r.Host)
	}))
}

// TestTLSQuickMode: torii proxy with two certificate pairs and both listeners, checked with Go's
// crypto/tls, curl and openssl s_client.
func TestTLSQuickMode(t *testing.T) { bothRelays(t, testTLSQuickMode) }

func testTLSQuickMode(t *testing.T) {
	p := newTLSPKI(t)
	c1, k1, _ := p.issue("first", "a.test")
	c2, k2, _ := p.issue("wild", "*.wild.test", "b.test")
	backend := forwardedBackend(t)
	tr := testkit.StartTorii(t, toriiBin, "proxy", "--listen", anyPort, "--listen-tls", anyPort, "--tls-relay", tlsRelay, "--to", "http://"+backend,
		"--tls-cert", c1, "--tls-key", k1, "--tls-cert", c2, "--tls-key", k2, "--loops", "1")
	if tr.TLS == "" {
		t.Fatalf("no tls address in the ready file: %+v", tr.Addrs)
	}
	// SNI: exact, wildcard, another SAN, unknown name and no SNI get the first pair (default).
	f := func(sni, want string) {
		t.Helper()
		roots := p.roots
		if got := servedCN(t, tr.TLS, sni, roots); got != want {
			t.Fatalf("SNI %q: served %q, want %q", sni, got, want)
		}
	}
	f("a.test", "first")
	f("x.wild.test", "wild")
	f("b.test", "wild")
	f("", "first")
	_, port, _ := net.SplitHostPort(tr.TLS)

	// curl: verified against the CA, X-Forwarded-Proto https, the client's address.
	out, err := exec.Command("curl", "-sS", "--max-time", "10", "--cacert", filepath.Join(p.dir, "ca.pem"),
		"--resolve", "x.wild.test:"+port+":127.0.0.1", "https://x.wild.test:"+port+"/").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "proto=https for=127.0.0.1 host=x.wild.test:"+port) {
		t.Fatalf("curl: %v: %s", err, out)
	}
	// The plaintext listener still says http.
	if _, body := get(t, tr.Proxy, "x", "/"); !strings.Contains(body, "proto=http ") {
		t.Fatalf("plaintext: %s", body)
	}
	// openssl s_client: SNI choice and verification.
	cmd := exec.Command("openssl", "s_client", "-connect", tr.TLS, "-servername", "a.test", "-CAfile", filepath.Join(p.dir, "ca.pem"),
		"-verify_return_error", "-alpn", "http/1.1")
	cmd.Stdin = strings.NewReader("")
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CN = first") || !strings.Contains(string(out), "Verify return code: 0 (ok)") ||
		!strings.Contains(string(out), "ALPN protocol: http/1.1") {
		t.Fatalf("openssl s_client: %v: %s", err, out)
	}
	// TLS 1.2 too.
	cmd = exec.Command("openssl", "s_client", "-connect", tr.TLS, "-servername", "b.test", "-tls1_2", "-CAfile", filepath.Join(p.dir, "ca.pem"))
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Protocol  : TLSv1.2") {
		t.Fatalf("openssl TLS 1.2: %v: %s", err, out)
	}

	// Resumption with openssl: the session saved by one connection resumes on the next (TLS 1.2,
	// where s_client has the ticket before it exits).
	sess := filepath.Join(t.TempDir(), "sess.pem")
	for i, want := range []string{"New, TLSv1.2", "Reused, TLSv1.2"} {
		flag := "-sess_out"
		if i == 1 {
			flag = "-sess_in"
		}
		cmd = exec.Command("openssl", "s_client", "-connect", tr.TLS, "-servername", "a.test", "-tls1_2", flag, sess)
		cmd.Stdin = strings.NewReader("")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("openssl resumption, want %q: %v: %s", want, err, out)
		}
	}

	// Plain HTTP on the TLS port: 400, as nginx does.
	out, err = exec.Command("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "http://"+tr.TLS+"/").CombinedOutput()
	if err != nil || string(out) != "400" {
		t.Fatalf("plain HTTP to the TLS port: %v %s", err, out)
	}
}

// TestTLSServeCertificatesHot: certificates added, replaced and removed through the admin API
// are used by the next handshake, under load, with no failed request; connections established
// earlier keep their certificate; and the metrics count handshakes.
func TestTLSServeCertificatesHot(t *testing.T) { bothRelays(t, testTLSServeCertificatesHot) }

func testTLSServeCertificatesHot(t *testing.T) {
	p := newTLSPKI(t)
	backend := forwardedBackend(t)
	g := startGateway(t, t.TempDir(), "off", "--listen-tls", anyPort, "--tls-relay", tlsRelay)
	if g.TLS == "" {
		t.Fatal("no tls address")
	}
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", map[string]any{"id": "r1", "name": "r1",
		"frontend": map[string]any{"domains": []string{"hot.test"}},
		"backend":  map[string]any{"targets": []any{map[string]any{"hostname": "127.0.0.1", "port": portOf(t, backend)}}}})
	// Without stored certificates the local CA's certificate serves.
	if cn := servedCN(t, g.TLS, "", nil); cn != "demo.torii.local" {
		t.Fatalf("fallback certificate: %q", cn)
	}
	_, _, first := p.issue("hot-1", "hot.test")
	g.mustAPI(http.StatusCreated, "POST", "/api/certificates", map[string]any{"id": "hot", "chain": first.ChainPEM, "privateKey": first.KeyPEM})
	if cn := servedCN(t, g.TLS, "hot.test", p.roots); cn != "hot-1" {
		t.Fatalf("after create: %q", cn)
	}
	early, err := tls.Dial("tcp", g.TLS, &tls.Config{ServerName: "hot.test", RootCAs: p.roots})
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()

	// Load: new connections and keep-alive requests, while the certificate is replaced.
	var ok, failed atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(keepAlive bool) {
			defer wg.Done()
			tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "hot.test", RootCAs: p.roots}, DisableKeepAlives: !keepAlive,
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, "tcp", g.TLS)
				}}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for i := 0; i < 5000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				res, err := cl.Get("https://hot.test/")
				if err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode == 200 && strings.Contains(string(b), "proto=https") {
					ok.Add(1)
				} else {
					failed.Add(1)
					lastErr.Store(fmt.Sprintf("%d %s", res.StatusCode, b))
				}
			}
		}(w%2 == 0)
	}
	for i := 2; i <= 6; i++ {
		time.Sleep(100 * time.Millisecond)
		_, _, next := p.issue("hot-"+strconv.Itoa(i), "hot.test")
		g.mustAPI(http.StatusOK, "PUT", "/api/certificates/hot", map[string]any{"id": "hot", "chain": next.ChainPEM, "privateKey": next.KeyPEM})
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 20 {
		t.Fatalf("%d requests failed (last: %v), %d ok", failed.Load(), lastErr.Load(), ok.Load())
	}
	t.Logf("%d requests during 5 replacements, 0 failed", ok.Load())
	if cn := servedCN(t, g.TLS, "hot.test", p.roots); cn != "hot-6" {
		t.Fatalf("after replacements: %q", cn)
	}
	// The connection made before keeps its certificate and is still served.
	if _, err := io.WriteString(early, "GET / HTTP/1.1\r\nHost: hot.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	_ = early.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := early.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Fatalf("early connection: %v %q", err, buf[:n])
	}
	if cn := early.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "hot-1" {
		t.Fatalf("early connection shows %q", cn)
	}
	// Metrics: handshakes and failures by reason, expiry per certificate.
	_, _ = net.Dial("tcp", g.TLS) // a client that never speaks: counted once it times out or at exit
	code, metrics := g.api("GET", "/metrics", nil)
	if code != 200 || !strings.Contains(string(metrics), "torii_tls_handshakes_total ") ||
		!strings.Contains(string(metrics), `torii_tls_handshake_failures_total{reason="timeout"}`) ||
		!strings.Contains(string(metrics), `torii_certificate_expiry_timestamp_seconds{id="hot"}`) ||
		strings.Contains(string(metrics), "PRIVATE KEY") {
		t.Fatalf("metrics: %d %s", code, metrics)
	}
	// Removal: back to the fallback.
	g.mustAPI(http.StatusOK, "DELETE", "/api/certificates/hot", nil)
	if cn := servedCN(t, g.TLS, "hot.test", nil); cn != "demo.torii.local" {
		t.Fatalf("after delete: %q", cn)
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// TestTLSMutualAndHostRule: an mTLS route (Otoroshi's NgHasClientCertValidator) refuses no
// certificate and a certificate of another CA, serves a certificate of a store CA with its
// subject and fingerprint sent to the backend, and refuses with 421 a request whose Host names
// the mTLS route on a connection made for another name (SNI/Host mismatch), while a matching
// Host and SNI pass. ForceHttpsTraffic redirects plaintext to the TLS port.
func TestTLSMutualAndHostRule(t *testing.T) { bothRelays(t, testTLSMutualAndHostRule) }

func testTLSMutualAndHostRule(t *testing.T) {
	p := newTLSPKI(t)
	other := newTLSPKI(t)
	backend := testkit.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "subject=%s fp=%s", r.Header.Get("X-Client-Cert-Subject"), r.Header.Get("X-Client-Cert-Fingerprint"))
	}))
	g := startGateway(t, t.TempDir(), "off", "--listen-tls", anyPort, "--tls-relay", tlsRelay)
	target := []any{map[string]any{"hostname": "127.0.0.1", "port": portOf(t, backend)}}
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", map[string]any{"id": "mtls", "name": "mtls",
		"frontend": map[string]any{"domains": []string{"mtls.test"}}, "backend": map[string]any{"targets": target},
		"plugins": []any{map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.NgHasClientCertValidator"}}})
	g.mustAPI(http.StatusCreated, "POST", "/api/routes", map[string]any{"id": "open", "name": "open",
		"frontend": map[string]any{"domains": []string{"open.test"}}, "backend": map[string]any{"targets": target},
		"plugins": []any{map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.ForceHttpsTraffic"}}})
	_, _, srvCert := p.issue("server", "mtls.test", "open.test")
	g.mustAPI(http.StatusCreated, "POST", "/api/certificates", map[string]any{"id": "server", "chain": srvCert.ChainPEM, "privateKey": srvCert.KeyPEM})
	g.mustAPI(http.StatusCreated, "POST", "/api/certificates", map[string]any{"id": "clients-ca", "chain": p.ca.ChainPEM, "ca": true})

	client := func(ca *tlsPKI, cn string) *tls.Certificate {
		m, err := pki.Mint(pki.MintOptions{CommonName: cn, Client: true, Issuer: ca.ca})
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair([]byte(m.ChainPEM), []byte(m.KeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}
	good, bad := client(p, "alice"), client(other, "mallory")
	events := filepath.Join(t.TempDir(), "events.ndjson")
	g.mustAPI(http.StatusCreated, "POST", "/api/data-exporter-configs", map[string]any{
		"id": "exp_tls", "type": "file", "enabled": true, "groupSize": 1, "groupDuration": 20,
		"filtering": map[string]any{"include": []any{map[string]any{"@type": "GatewayEvent"}}},
		"config":    map[string]any{"path": events},
	})
	call := func(sni, host string, cert *tls.Certificate, extra string) (int, string) {
		t.Helper()
		cfg := &tls.Config{ServerName: sni, RootCAs: p.roots}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c, err := tls.Dial("tcp", g.TLS, cfg)
		if err != nil {
			t.Fatalf("handshake %s: %v", sni, err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", host, extra)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("response: %v", err)
		}
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := call("mtls.test", "mtls.test", nil, ""); code != 403 {
		t.Fatalf("no certificate: %d %s", code, body)
	}
	if code, body := call("mtls.test", "mtls.test", bad, ""); code != 403 {
		t.Fatalf("certificate of another CA: %d %s", code, body)
	}
	code, body := call("mtls.test", "mtls.test", good, "X-Client-Cert-Subject: CN=admin\r\n")
	if code != 200 || !strings.Contains(body, "subject=CN=alice,O=Torii fp=") || len(body) < len("subject=CN=alice,O=Torii fp=")+64 {
		t.Fatalf("good certificate: %d %s", code, body)
	}
	// The event carries the scheme, the subject and the fingerprint.
	testkit.Eventually(t, "the mTLS event is exported", func() error {
		b, _ := os.ReadFile(events)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `"clientCertChain":["CN=alice,O=Torii"]`) && strings.Contains(line, `"scheme":"https"`) &&
				strings.Contains(line, `"verifiedBy":"clients-ca"`) && strings.Contains(line, `"fingerprint":"`) {
				return nil
			}
		}
		return fmt.Errorf("no event with the client certificate: %.3000s", b)
	})
	// SNI/Host: a connection made for open.test (no client certificate asked) cannot reach the
	// mTLS route by naming it in Host; the other way is the same rule.
	if code, body := call("open.test", "mtls.test", good, ""); code != 421 || !strings.Contains(body, "errors.misdirected.request") {
		t.Fatalf("SNI open.test, Host mtls.test: %d %s", code, body)
	}
	if code, _ := call("open.test", "open.test", nil, ""); code != 200 {
		t.Fatalf("open route over TLS: %d", code)
	}
	// HTTP/2 connection coalescing is the same question: one h2 connection made for open.test
	// (with a good client certificate, which open.test's handshake does not ask for) carries a
	// stream for open.test, then one whose :authority is mtls.test. The second is refused 421.
	h2c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true, MaxConnsPerHost: 1,
		TLSClientConfig: &tls.Config{ServerName: "open.test", RootCAs: p.roots, Certificates: []tls.Certificate{*good}}}}
	defer h2c.CloseIdleConnections()
	for _, c := range []struct {
		host string
		code int
	}{{"open.test", 200}, {"mtls.test", 421}} {
		req, _ := http.NewRequest("GET", "https://"+g.TLS+"/", nil)
		req.Host = c.host
		res, err := h2c.Do(req)
		if err != nil {
			t.Fatalf("HTTP/2 to %s: %v", c.host, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 || res.StatusCode != c.code {
			t.Fatalf("HTTP/2 stream for %s on a connection for open.test: %s %d %s", c.host, res.Proto, res.StatusCode, b)
		}
	}
	// ForceHttpsTraffic: plaintext is sent to https on the TLS port.
	req, _ := http.NewRequest("GET", "http://"+g.Proxy+"/a?b=c", nil)
	req.Host = "open.test"
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	_, tlsPort, _ := net.SplitHostPort(g.TLS)
	if res.StatusCode != 303 || res.Header.Get("Location") != "https://open.test:"+tlsPort+"/a?b=c" {
		t.Fatalf("ForceHttpsTraffic: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

// rssKiB is the resident memory of process pid.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestTLSHandshakeFlood: 1500 connections that open and never finish a handshake (half of them
// send a partial ClientHello) while an established keep-alive connection keeps being served;
// torii's memory stays bounded (handshake slots, not one goroutine per flooder), and a new
// client gets through once the flood is gone (the handshake deadline frees the slots).
func TestTLSHandshakeFlood(t *testing.T) { bothRelays(t, testTLSHandshakeFlood) }

func testTLSHandshakeFlood(t *testing.T) {
	p := newTLSPKI(t)
	c1, k1, _ := p.issue("flood", "flood.test")
	backend := forwardedBackend(t)
	tr := testkit.StartTorii(t, toriiBin, "proxy", "--listen", anyPort, "--listen-tls", anyPort, "--tls-relay", tlsRelay, "--to", "http://"+backend,
		"--tls-cert", c1, "--tls-key", k1, "--loops", "1", "--tls-max-handshakes", "32", "--tls-handshake-timeout", "2s")
	est, err := tls.Dial("tcp", tr.TLS, &tls.Config{ServerName: "flood.test", RootCAs: p.roots})
	if err != nil {
		t.Fatal(err)
	}
	defer est.Close()
	br := bufio.NewReader(est)
	ask := func() time.Duration {
		t.Helper()
		start := time.Now()
		_ = est.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(est, "GET / HTTP/1.1\r\nHost: flood.test\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("established connection during the flood: %v", err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("established connection: %d", res.StatusCode)
		}
		return time.Since(start)
	}
	ask()
	pid := tr.Cmd.Process.Pid
	before := rssKiB(t, pid)
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	// A partial ClientHello record header: the server waits for the rest.
	partial := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}
	var slowest time.Duration
	for i := 0; i < 1500; i++ {
		c, err := net.DialTimeout("tcp", tr.TLS, 2*time.Second)
		if err != nil {
			break // the accept queue is full: the kernel refuses, which is the point
		}
		if i%2 == 0 {
			_, _ = c.Write(partial)
		}
		flood = append(flood, c)
		if i%100 == 0 {
			slowest = max(slowest, ask())
		}
	}
	slowest = max(slowest, ask())
	after := rssKiB(t, pid)
	t.Logf("%d flooding connections: RSS %d -> %d KiB, slowest established request %v", len(flood), before, after, slowest)
	if after-before > 32*1024 {
		t.Fatalf("RSS grew by %d KiB under the handshake flood", after-before)
	}
	// Once the deadline frees slots, a real client gets through, and the flood is counted.
	for _, c := range flood {
		c.Close()
	}
	flood = nil
	if cn := servedCN(t, tr.TLS, "flood.test", p.roots); cn != "flood" {
		t.Fatalf("after the flood: %q", cn)
	}
}

// TestCertificateExpiryAlertExported: a certificate that ends in 10 days, added through the admin
// API, makes a CertAlmostExpiredAlert reach a file data exporter (no private key in it).
func TestCertificateExpiryAlertExported(t *testing.T) {
	g := startGateway(t, t.TempDir(), "off")
	alerts := filepath.Join(t.TempDir(), "alerts.ndjson")
	g.mustAPI(http.StatusCreated, "POST", "/api/data-exporter-configs", map[string]any{
		"id": "exp_alerts", "type": "file", "enabled": true, "groupSize": 1, "groupDuration": 20,
		"filtering": map[string]any{"include": []any{map[string]any{"@type": "AlertEvent"}}},
		"config":    map[string]any{"path": alerts},
	})
	m, err := pki.Mint(pki.MintOptions{CommonName: "soon", Hosts: []string{"soon.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	g.mustAPI(http.StatusCreated, "POST", "/api/certificates", map[string]any{"id": "soon", "chain": m.ChainPEM, "privateKey": m.KeyPEM})
	testkit.Eventually(t, "the expiry alert is exported", func() error {
		b, _ := os.ReadFile(alerts)
		if !strings.Contains(string(b), `"alert":"CertAlmostExpiredAlert"`) || !strings.Contains(string(b), `"id":"soon"`) {
			return fmt.Errorf("alerts file holds %q", b)
		}
		if strings.Contains(string(b), "PRIVATE KEY") {
			t.Fatal("the alert carries the private key")
		}
		return nil
	})
}
