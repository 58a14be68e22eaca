package tlsedge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/sockpair"
	"github.com/torii-gateway/torii/pki"
	"github.com/torii-gateway/torii/proxyproto"
)

// fakeEngine stands for the event loops: it reads the PROXY header of each enrolled conn and
// serves HTTP on it with net/http, answering with what the header said.
type fakeEngine struct {
	conns chan net.Conn
	srv   *http.Server
	mu    sync.Mutex
	last  proxyproto.Header
}

// loopEnrolls counts the connections given to enrollLoop.
var loopEnrolls atomic.Int64

type hdrConn struct {
	net.Conn
	h proxyproto.Header
	r io.Reader
}

func (c *hdrConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func (e *fakeEngine) Accept() (net.Conn, error) {
	c, ok := <-e.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (e *fakeEngine) Close() error   { return nil }
func (e *fakeEngine) Addr() net.Addr { return &net.UnixAddr{Name: "fake", Net: "unix"} }

// enroll reads the header synchronously-enough: in a goroutine, like gnet's worker.
func (e *fakeEngine) enroll(nc net.Conn) error {
	go func() {
		buf := make([]byte, 0, proxyproto.MaxHeader)
		tmp := make([]byte, 512)
		for {
			n, err := nc.Read(tmp)
			buf = append(buf, tmp[:n]...)
			var h proxyproto.Header
			m, perr := proxyproto.Parse(buf, &h)
			if perr == nil {
				// Copy the spans: buf is reused below only through rest.
				owned := append([]byte(nil), buf...)
				_, _ = proxyproto.Parse(owned, &h)
				e.conns <- &hdrConn{Conn: nc, h: h, r: io.MultiReader(strings.NewReader(string(owned[m:])), nc)}
				return
			}
			if !errors.Is(perr, proxyproto.ErrNeedMore) || err != nil {
				_ = nc.Close()
				return
			}
		}
	}()
	return nil
}

// enrollLoop stands for core.Server.EnrollTLS: the handshake's details, as the header that the
// other relays would have written, and the TLS connection served as it is (the record layer on
// the real loops is tested in cmd/torii).
func (e *fakeEngine) enrollLoop(nc net.Conn, tc *tls.Conn, rec *sockpair.Conn, in *proxyproto.Info, done func()) error {
	if rec == nil || tc.NetConn() == nil || nc == nil {
		return errors.New("enrollLoop: missing connection")
	}
	hdr := proxyproto.Append(nil, in)
	var h proxyproto.Header
	if _, err := proxyproto.Parse(hdr, &h); err != nil {
		return err
	}
	loopEnrolls.Add(1)
	e.conns <- &hdrConn{Conn: &doneConn{Conn: tc, done: done}, h: h, r: tc}
	return nil
}

// doneConn calls done at its first Close.
type doneConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *doneConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

// relayMode, when set, is the Relay of the servers startEdge starts (see TestLoopRelay).
var relayMode string

type ctxKey struct{}

func startEngine(t *testing.T) *fakeEngine {
	t.Helper()
	e := &fakeEngine{conns: make(chan net.Conn, 64)}
	e.srv = &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, ctxKey{}, c) },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Context().Value(ctxKey{}).(*hdrConn).h
			e.mu.Lock()
			e.last = h
			e.mu.Unlock()
			fmt.Fprintf(w, "sni=%s alpn=%s ssl=%v version=%s src=%s cert=%v fp=%s verified=%s",
				h.Authority, h.ALPN, h.SSL, h.TLSVersion, h.Src, h.ClientCert, h.Fingerprint, h.VerifiedBy)
		}),
	}
	go func() { _ = e.srv.Serve(e) }()
	t.Cleanup(func() { close(e.conns); _ = e.srv.Close() })
	return e
}

// startEdge starts a Server on a loopback port with table tbl.
func startEdge(t *testing.T, cfg Config, tbl *Table) (*Server, string) {
	t.Helper()
	e := startEngine(t)
	if cfg.Enroll == nil {
		cfg.Enroll = e.enroll
	}
	if relayMode != "" && cfg.Relay == "" {
		cfg.Relay = relayMode
		cfg.EnrollLoop = e.enrollLoop
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetTable(tbl)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, ln.Addr().String()
}

// testPKI is a CA and certificates issued by it.
type testPKI struct {
	ca    *pki.Minted
	roots *x509.CertPool
}

func newPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	ca, err := pki.Mint(pki.MintOptions{CommonName: name, CA: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{ca: ca, roots: x509.NewCertPool()}
	p.roots.AddCert(ca.Cert)
	return p
}

func (p *testPKI) cert(t testing.TB, id string, hosts ...string) Cert {
	t.Helper()
	m, err := pki.Mint(pki.MintOptions{CommonName: id, Hosts: hosts, Issuer: p.ca})
	if err != nil {
		t.Fatal(err)
	}
	chain, key, err := pki.Check(m.ChainPEM, m.KeyPEM, time.Now(), true)
	if err != nil {
		t.Fatal(err)
	}
	pair := pki.Pair(chain, key)
	return Cert{ID: id, Names: hosts, Pair: &pair}
}

func (p *testPKI) client(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	m, err := pki.Mint(pki.MintOptions{CommonName: cn, Client: true, Issuer: p.ca})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair([]byte(m.ChainPEM), []byte(m.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// get does one HTTPS GET over a new connection with cfg and returns the served certificate's
// subject CN and the body.
func get(t *testing.T, addr string, cfg *tls.Config) (cn, body string, cs tls.ConnectionState) {
	t.Helper()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial %s (sni %q): %v", addr, cfg.ServerName, err)
	}
	defer tc.Close()
	body = roundTrip(t, tc)
	cs = tc.ConnectionState()
	return cs.PeerCertificates[0].Subject.CommonName, body, cs
}

func roundTrip(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var got []byte
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if i := strings.Index(string(got), "\r\n\r\n"); i >= 0 {
			var cl int
			for _, line := range strings.Split(string(got[:i]), "\r\n") {
				if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length: "); ok {
					_, _ = fmt.Sscan(v, &cl)
				}
			}
			if len(got) >= i+4+cl {
				return string(got[i+4 : i+4+cl])
			}
		}
		if err != nil {
			t.Fatalf("read response: %v (got %q)", err, got)
		}
	}
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
