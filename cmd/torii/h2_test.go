package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/torii-gateway/torii/internal/testkit"
)

// TestHTTP2Binary: the real binary with --listen-tls (ALPN h2 by default) and --h2c: curl
// --http2 over TLS and --http2-prior-knowledge on the plaintext listener are served as HTTP/2
// (the backend sees HTTP/1.1 with the client's address and scheme), and HTTP/1.1 on the
// plaintext listener still works with --h2c on; Go's HTTP/2 client over TLS too. Both TLS
// relays: the record layer on the loops (HTTP/2 served over it) and the relay pollers.
func TestHTTP2Binary(t *testing.T) {
	bothRelays(t, func(t *testing.T) {
		for _, impl := range []string{"loops", "h2edge"} {
			t.Run(impl, func(t *testing.T) { testHTTP2Binary(t, impl) })
		}
	})
}

func testHTTP2Binary(t *testing.T, impl string) {
	p := newTLSPKI(t)
	c1, k1, _ := p.issue("h2", "h2.test")
	backend := forwardedBackend(t)
	tr := testkit.StartTorii(t, toriiBin, "proxy", "--listen", anyPort, "--listen-tls", anyPort, "--to", "http://"+backend,
		"--tls-cert", c1, "--tls-key", k1, "--loops", "1", "--h2c", "--h2-server", impl, "--tls-relay", tlsRelay)
	_, port, _ := net.SplitHostPort(tr.TLS)
	curl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "10", "-w", " v=%{http_version}"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	if out := curl("--http2", "--cacert", filepath.Join(p.dir, "ca.pem"), "--resolve", "h2.test:"+port+":127.0.0.1", "https://h2.test:"+port+"/"); out != "proto=https for=127.0.0.1 host=h2.test:"+port+" v=2" {
		t.Errorf("curl --http2 over TLS: %q", out)
	}
	// Go's HTTP/2 client over TLS.
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: p.roots, ServerName: "h2.test"},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", tr.TLS)
		},
	}}
	resp, err := cl.Get("https://h2.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || string(b) != "proto=https for=127.0.0.1 host=h2.test:"+port {
		t.Errorf("Go client over TLS: %s %q", resp.Proto, b)
	}
	if out := curl("--http2-prior-knowledge", "http://"+tr.Proxy+"/"); out != "proto=http for=127.0.0.1 host="+tr.Proxy+" v=2" {
		t.Errorf("curl --http2-prior-knowledge: %q", out)
	}
	if out := curl("--http1.1", "http://"+tr.Proxy+"/"); !strings.HasSuffix(out, " v=1.1") || !strings.HasPrefix(out, "proto=http ") {
		t.Errorf("HTTP/1.1 with --h2c: %q", out)
	}
	if out := curl("--http1.1", "--cacert", filepath.Join(p.dir, "ca.pem"), "--resolve", "h2.test:"+port+":127.0.0.1", "https://h2.test:"+port+"/"); !strings.HasSuffix(out, " v=1.1") {
		t.Errorf("HTTP/1.1 over TLS: %q", out)
	}
}

// TestHTTP2KeyUpdate: a TLS 1.3 KeyUpdate (openssl s_client's "K" command) between two HTTP/2
// streams of one connection; both are answered (both TLS relays).
func TestHTTP2KeyUpdate(t *testing.T) { bothRelays(t, testHTTP2KeyUpdate) }

func testHTTP2KeyUpdate(t *testing.T) {
	p := newTLSPKI(t)
	c1, k1, _ := p.issue("h2", "h2.test")
	tr := testkit.StartTorii(t, toriiBin, "proxy", "--listen", anyPort, "--listen-tls", anyPort, "--to", "http://"+forwardedBackend(t),
		"--tls-cert", c1, "--tls-key", k1, "--loops", "1", "--tls-relay", tlsRelay)
	// The frames of each step, in files that s_client reads in one go: a read that starts
	// with "K" is its KeyUpdate command, the frames start with a zero length byte.
	block := func() []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {":authority", "h2.test"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		return b.Bytes()
	}()
	dir := t.TempDir()
	step := func(name string, preface bool, id uint32) string {
		var b bytes.Buffer
		if preface {
			b.WriteString(http2.ClientPreface)
		}
		fr := http2.NewFramer(&b, nil)
		if preface {
			_ = fr.WriteSettings()
		}
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: true})
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	first, second := step("first", true, 1), step("second", false, 3)
	cmd := exec.Command("bash", "-c", `{ cat `+first+`; sleep 0.5; printf 'K\n'; sleep 0.5; cat `+second+`; sleep 1; } |
		openssl s_client -connect `+tr.TLS+` -servername h2.test -tls1_3 -alpn h2 -CAfile `+p.dir+`/ca.pem`)
	out, err := cmd.CombinedOutput()
	if n := strings.Count(string(out), "proto=https for=127.0.0.1"); n != 2 || !strings.Contains(string(out), "KEYUPDATE") {
		t.Fatalf("KeyUpdate between two streams: %d answers, %v: %q", n, err, out)
	}
}
