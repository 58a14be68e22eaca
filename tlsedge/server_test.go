package tlsedge

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSNIChoice(t *testing.T) {
	p := newPKI(t, "test CA")
	def := p.cert(t, "default", "default.test")
	def.Default = true
	tbl := NewTable([]Cert{
		p.cert(t, "exact", "api.example.com"),
		p.cert(t, "wild", "*.example.com"),
		p.cert(t, "wild2", "*.b.example.com"),
		def,
	}, TableOptions{})
	_, addr := startEdge(t, Config{}, tbl)
	f := func(sni, want string) {
		t.Helper()
		cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true}
		cn, body, _ := get(t, addr, cfg)
		if cn != want {
			t.Fatalf("sni %q: served %q, want %q", sni, cn, want)
		}
		if !strings.Contains(body, "sni="+strings.ToLower(sni)+" ") || !strings.Contains(body, "ssl=true") || !strings.Contains(body, "alpn=http/1.1") &&
			!strings.Contains(body, "alpn= ") {
			t.Fatalf("sni %q: header %q", sni, body)
		}
	}
	f("api.example.com", "exact")
	f("API.Example.com", "exact")
	f("x.example.com", "wild")
	f("a.b.example.com", "wild2")
	f("z.y.example.com", "wild")
	f("other.test", "default")
	f("", "default")

	// The client address and version travel in the PROXY header.
	_, body, _ := get(t, addr, &tls.Config{ServerName: "api.example.com", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if !strings.Contains(body, "alpn=http/1.1") || !strings.Contains(body, "src=127.0.0.1:") || !strings.Contains(body, "version=TLSv1.3") {
		t.Fatalf("header fields: %q", body)
	}
	// Verified against the CA by name, as a browser would.
	if _, _, cs := get(t, addr, &tls.Config{ServerName: "x.example.com", RootCAs: p.roots}); len(cs.VerifiedChains) == 0 {
		t.Fatal("chain not verified")
	}
}

func TestVersions(t *testing.T) {
	p := newPKI(t, "test CA")
	_, addr := startEdge(t, Config{MinVersion: tls.VersionTLS13}, NewTable([]Cert{p.cert(t, "a", "a.test")}, TableOptions{}))
	_, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "a.test", RootCAs: p.roots, MaxVersion: tls.VersionTLS12})
	if err == nil {
		t.Fatal("TLS 1.2 accepted with MinVersion 1.3")
	}
	_, body, _ := get(t, addr, &tls.Config{ServerName: "a.test", RootCAs: p.roots})
	if !strings.Contains(body, "version=TLSv1.3") {
		t.Fatal(body)
	}
	_, addr12 := startEdge(t, Config{}, NewTable([]Cert{p.cert(t, "a", "a.test")}, TableOptions{}))
	if _, body, _ := get(t, addr12, &tls.Config{ServerName: "a.test", RootCAs: p.roots, MaxVersion: tls.VersionTLS12}); !strings.Contains(body, "version=TLSv1.2") {
		t.Fatal(body)
	}
	if _, err := New(Config{Enroll: func(net.Conn) error { return nil }, MinVersion: tls.VersionTLS10}); err == nil {
		t.Fatal("TLS 1.0 accepted as a setting")
	}
}

func TestPlaintextToTLSPort(t *testing.T) {
	p := newPKI(t, "test CA")
	s, addr := startEdge(t, Config{}, NewTable([]Cert{p.cert(t, "a", "a.test")}, TableOptions{}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.1 400 Bad Request\r\n") || !strings.HasSuffix(string(b), "plain HTTP request was sent to HTTPS port\"}") {
		t.Fatalf("got %q", b)
	}
	if s.Stats().Failures[ReasonPlaintext] != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
}

// TestHotReplace swaps the table under load: every request succeeds, connections established
// before the swap keep their certificate, and handshakes after it get the new one.
func TestHotReplace(t *testing.T) {
	p := newPKI(t, "test CA")
	old := p.cert(t, "old", "a.test")
	s, addr := startEdge(t, Config{}, NewTable([]Cert{old}, TableOptions{}))
	cfg := &tls.Config{ServerName: "a.test", RootCAs: p.roots}
	early, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	roundTrip(t, early)

	var fails, oks atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "a.test", RootCAs: p.roots})
				if err != nil {
					fails.Add(1)
					continue
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
				b, _ := io.ReadAll(c)
				c.Close()
				if strings.HasPrefix(string(b), "HTTP/1.1 200") {
					oks.Add(1)
				} else {
					fails.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		time.Sleep(10 * time.Millisecond)
		c := p.cert(t, "new", "a.test")
		if i%2 == 0 {
			c = old
		}
		s.SetTable(NewTable([]Cert{c}, TableOptions{}))
	}
	s.SetTable(NewTable([]Cert{p.cert(t, "new", "a.test")}, TableOptions{}))
	close(stop)
	wg.Wait()
	if fails.Load() != 0 || oks.Load() == 0 {
		t.Fatalf("%d failed, %d ok", fails.Load(), oks.Load())
	}
	// The early connection still works and still has the old certificate.
	roundTrip(t, early)
	if cn := early.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "old" {
		t.Fatalf("early connection now shows %q", cn)
	}
	if cn, _, _ := get(t, addr, cfg); cn != "new" {
		t.Fatalf("new handshake served %q", cn)
	}
	// Removing every certificate: handshakes fail cleanly, counted.
	s.SetTable(NewTable(nil, TableOptions{}))
	if _, err := tls.Dial("tcp", addr, cfg); err == nil {
		t.Fatal("handshake succeeded with an empty table")
	}
	roundTrip(t, early)
}

func TestResumption(t *testing.T) {
	p := newPKI(t, "test CA")
	s, addr := startEdge(t, Config{}, NewTable([]Cert{p.cert(t, "a", "a.test")}, TableOptions{}))
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := tls.NewLRUClientSessionCache(4)
		cfg := &tls.Config{ServerName: "a.test", RootCAs: p.roots, ClientSessionCache: cache, MaxVersion: v}
		if _, _, cs := get(t, addr, cfg); cs.DidResume {
			t.Fatal("first connection resumed")
		}
		if _, _, cs := get(t, addr, cfg); !cs.DidResume {
			t.Fatalf("%s: second connection not resumed", tls.VersionName(v))
		}
		// After two rotations the ticket's key is still kept (3 keys); after three it is gone.
		_ = s.RotateTickets()
		_ = s.RotateTickets()
		if _, _, cs := get(t, addr, cfg); !cs.DidResume {
			t.Fatalf("%s: not resumed after 2 rotations", tls.VersionName(v))
		}
		for i := 0; i < 3; i++ {
			_ = s.RotateTickets()
		}
		if _, _, cs := get(t, addr, cfg); cs.DidResume {
			t.Fatalf("%s: resumed with a dropped ticket key", tls.VersionName(v))
		}
	}
	if s.Stats().Resumed < 4 {
		t.Fatalf("stats %+v", s.Stats())
	}
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t, "test CA")
	other := newPKI(t, "other CA")
	tbl := NewTable([]Cert{p.cert(t, "a", "a.test", "open.test")}, TableOptions{
		ClientCAs:       []CA{{ID: "ca-1", Cert: p.ca.Cert}},
		ClientAuthHosts: []string{"a.test"},
	})
	_, addr := startEdge(t, Config{}, tbl)
	good := p.client(t, "alice")
	bad := other.client(t, "mallory")
	f := func(sni string, cert *tls.Certificate, want string) {
		t.Helper()
		cfg := &tls.Config{ServerName: sni, RootCAs: p.roots}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		_, body, _ := get(t, addr, cfg)
		if !strings.HasSuffix(body, want) {
			t.Fatalf("sni %s: %q, want it to end with %q", sni, body, want)
		}
	}
	f("a.test", nil, "cert=false fp= verified=")
	// A certificate of another CA is passed on (subject, fingerprint) but not verified.
	f("a.test", &bad, " verified=")
	f("a.test", &good, " verified=ca-1")
	// A host without client authentication does not ask for a certificate.
	f("open.test", &good, "cert=false fp= verified=")
}

func TestHandshakeTimeoutAndLimit(t *testing.T) {
	p := newPKI(t, "test CA")
	s, addr := startEdge(t, Config{HandshakeTimeout: 300 * time.Millisecond, MaxHandshakes: 4},
		NewTable([]Cert{p.cert(t, "a", "a.test")}, TableOptions{}))
	cfg := &tls.Config{ServerName: "a.test", RootCAs: p.roots}
	est, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer est.Close()
	// Fill every slot with silent connections, repeatedly.
	var silent []net.Conn
	for i := 0; i < 12; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	// The established connection keeps being served meanwhile.
	for i := 0; i < 20; i++ {
		roundTrip(t, est)
	}
	if n := s.Stats().InHandshake; n > 4 {
		t.Fatalf("%d handshakes at once, limit 4", n)
	}
	// The silent ones time out in rounds of 4; a real client then gets through.
	if _, _, cs := get(t, addr, cfg); !cs.HandshakeComplete {
		t.Fatal("no handshake")
	}
	if f := s.Stats().Failures[ReasonTimeout]; f < 4 {
		t.Fatalf("timeouts counted: %d", f)
	}
}

// lineCounter counts log lines.
type lineCounter struct{ n atomic.Int64 }

func (l *lineCounter) Write(b []byte) (int, error) {
	l.n.Add(int64(bytes.Count(b, []byte("\n"))))
	return len(b), nil
}

// TestFailureLogRate: 200 failed handshakes in a burst write one log line (with the client
// address), and the next line, a period later, says how many were left out.
func TestFailureLogRate(t *testing.T) {
	p := newPKI(t, "test CA")
	var lines lineCounter
	var buf strings.Builder
	var mu sync.Mutex
	w := io.MultiWriter(&lines, writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(b) }))
	s, addr := startEdge(t, Config{Logger: slog.New(slog.NewTextHandler(w, nil)), LogEvery: 300 * time.Millisecond},
		NewTable([]Cert{p.cert(t, "a", "a.test")}, TableOptions{}))
	start := time.Now()
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, "garbage that is not TLS\r\n\r\n")
		_, _ = io.ReadAll(c)
		c.Close()
	}
	for s.Stats().Failures[ReasonProtocol]+s.Stats().Failures[ReasonPlaintext] < 200 {
		time.Sleep(10 * time.Millisecond)
	}
	// One line per LogEvery at most (the burst is ~100 ms on a quiet machine, longer under load).
	allowed := 2 + int64(time.Since(start)/(300*time.Millisecond))
	if n := lines.n.Load(); n < 1 || n > allowed {
		t.Fatalf("%d log lines for 200 failures in %v (at most %d)", n, time.Since(start), allowed)
	}
	time.Sleep(350 * time.Millisecond)
	c, _ := net.Dial("tcp", addr)
	_, _ = io.WriteString(c, "garbage\r\n\r\n")
	_, _ = io.ReadAll(c)
	c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		if strings.Contains(out, "suppressed=") && strings.Contains(out, "client=127.0.0.1:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line with the suppressed count and the client: %s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestTableVersions: a table's version setting replaces the server's for the handshakes that
// start with it, and a set bound wins over the server's other bound when they cross.
func TestTableVersions(t *testing.T) {
	p := newPKI(t, "test CA")
	cert := p.cert(t, "a", "a.test")
	s, addr := startEdge(t, Config{}, NewTable([]Cert{cert}, TableOptions{MinVersion: tls.VersionTLS13}))
	dial12 := func() error {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "a.test", RootCAs: p.roots, MaxVersion: tls.VersionTLS12})
		if err == nil {
			c.Close()
		}
		return err
	}
	if dial12() == nil {
		t.Fatal("TLS 1.2 accepted with the table's MinVersion 1.3")
	}
	s.SetTable(NewTable([]Cert{p.cert(t, "a", "a.test")}, TableOptions{}))
	// A whole exchange, so that the handoff is over before the test's engine stops.
	if _, body, _ := get(t, addr, &tls.Config{ServerName: "a.test", RootCAs: p.roots, MaxVersion: tls.VersionTLS12}); !strings.Contains(body, "version=TLSv1.2") {
		t.Fatalf("TLS 1.2 after the table dropped its setting: %s", body)
	}
	for _, c := range []struct{ srvMin, srvMax, tMin, tMax, wantMin, wantMax uint16 }{
		{tls.VersionTLS12, tls.VersionTLS13, 0, 0, tls.VersionTLS12, tls.VersionTLS13},
		{tls.VersionTLS13, tls.VersionTLS13, tls.VersionTLS12, 0, tls.VersionTLS12, tls.VersionTLS13},
		{tls.VersionTLS12, tls.VersionTLS12, tls.VersionTLS13, 0, tls.VersionTLS13, tls.VersionTLS13},
		{tls.VersionTLS13, tls.VersionTLS13, 0, tls.VersionTLS12, tls.VersionTLS12, tls.VersionTLS12},
		{tls.VersionTLS12, tls.VersionTLS13, tls.VersionTLS13, tls.VersionTLS12, tls.VersionTLS13, tls.VersionTLS13},
	} {
		srv := &Server{cfg: Config{MinVersion: c.srvMin, MaxVersion: c.srvMax}}
		lo, hi := srv.versions(NewTable(nil, TableOptions{MinVersion: c.tMin, MaxVersion: c.tMax}))
		if lo != c.wantMin || hi != c.wantMax {
			t.Errorf("%+v: got %x-%x", c, lo, hi)
		}
	}
}

// TestLoopRelay runs the handshake-side tests with Relay "loop": the connection and what the
// handshake learned reach EnrollLoop instead of a PROXY header on a socketpair (HTTP/2 too,
// unless ServeH2 serves it); and the mode needs EnrollLoop.
func TestLoopRelay(t *testing.T) {
	if _, err := New(Config{Enroll: func(net.Conn) error { return nil }, Relay: RelayLoop}); err == nil ||
		!strings.Contains(err.Error(), "EnrollLoop") {
		t.Fatalf("relay loop without EnrollLoop: %v", err)
	}
	relayMode = RelayLoop
	defer func() { relayMode = "" }()
	for name, f := range map[string]func(*testing.T){"SNIChoice": TestSNIChoice, "Versions": TestVersions,
		"HotReplace": TestHotReplace, "Resumption": TestResumption, "MutualTLS": TestMutualTLS,
		"TableVersions": TestTableVersions, "PlaintextToTLSPort": TestPlaintextToTLSPort} {
		before := loopEnrolls.Load()
		t.Run(name, f)
		if name != "PlaintextToTLSPort" && loopEnrolls.Load() == before {
			t.Fatalf("%s: no connection went to EnrollLoop", name)
		}
	}
}
