package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/torii-gateway/torii/acmecert"
	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/internal/sockpair"
	"github.com/torii-gateway/torii/pki"
	"github.com/torii-gateway/torii/proxyproto"
	"github.com/torii-gateway/torii/tlsedge"
)

// tlsFlags are the TLS listener's flags, shared by proxy and serve.
type tlsFlags struct {
	listen           string
	certs, keys      stringList
	minVersion       string
	handshakeTimeout time.Duration
	maxHandshakes    int
	relay            string
	h2               h2Flags
}

func (f *tlsFlags) register(fs *flag.FlagSet, serve bool) {
	fs.StringVar(&f.listen, "listen-tls", "", "HTTPS listen address host:port, served by the same routes as --listen (empty: none)")
	certHelp := "PEM certificate chain served by SNI (repeat, each with its --tls-key)"
	if serve {
		certHelp += ";\nserved only while the store has no certificate (default: a certificate of a local CA kept in --data-dir/tls)"
	}
	fs.Var(&f.certs, "tls-cert", certHelp)
	fs.Var(&f.keys, "tls-key", "PEM private key of the --tls-cert at the same position")
	fs.StringVar(&f.minVersion, "tls-min-version", "1.2", "lowest TLS version accepted: 1.2 or 1.3")
	fs.DurationVar(&f.handshakeTimeout, "tls-handshake-timeout", tlsedge.DefaultHandshakeTimeout, "time allowed for a TLS handshake")
	fs.IntVar(&f.maxHandshakes, "tls-max-handshakes", tlsedge.DefaultMaxHandshakes, "TLS handshakes run at once; more wait in the accept queue")
	fs.StringVar(&f.relay, "tls-relay", tlsedge.RelayLoop, "how established TLS connections reach the event loops: "+
		tlsedge.RelayLoop+" (the loops drive the record layer of the client's own socket, HTTP/2 included), "+
		tlsedge.RelayPoller+" (a socketpair relayed by relay pollers, one goroutine each) or "+tlsedge.RelayGoroutines+" (two goroutines per connection)")
	f.h2.register(fs)
}

// fileCerts loads the --tls-cert/--tls-key pairs. A certificate serves the names of its SANs
// (its CN when it has none); the first pair is the default.
func (f *tlsFlags) fileCerts() ([]tlsedge.Cert, error) {
	if len(f.certs) != len(f.keys) {
		return nil, fmt.Errorf("--tls-cert and --tls-key come in pairs: %d certificates, %d keys", len(f.certs), len(f.keys))
	}
	var out []tlsedge.Cert
	for i := range f.certs {
		chainPEM, err := os.ReadFile(f.certs[i])
		if err != nil {
			return nil, fmt.Errorf("cannot read --tls-cert: %w", err)
		}
		keyPEM, err := os.ReadFile(f.keys[i])
		if err != nil {
			return nil, fmt.Errorf("cannot read --tls-key: %w", err)
		}
		chain, key, err := pki.Check(string(chainPEM), string(keyPEM), time.Time{}, false)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", f.certs[i], f.keys[i], err)
		}
		if key == nil {
			return nil, fmt.Errorf("--tls-key %s: no private key", f.keys[i])
		}
		pair := pki.Pair(chain, key)
		names := pki.Describe(chain).SANs
		if len(names) == 0 {
			names = []string{chain[0].Subject.CommonName}
		}
		out = append(out, tlsedge.Cert{ID: filepath.Base(f.certs[i]), Names: names, Pair: &pair, Default: i == 0})
	}
	return out, nil
}

func (f *tlsFlags) versions() (uint16, error) {
	switch f.minVersion {
	case "1.2", "":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--tls-min-version %q: 1.2 or 1.3", f.minVersion)
}

// tlsFront is the TLS listener in front of an engine.
type tlsFront struct {
	srv      *tlsedge.Server
	ln       net.Listener
	fallback []tlsedge.Cert // served while the published table has no certificate
	log      *slog.Logger
}

// newTLSFront binds --listen-tls (nil when it is empty). Connections are handed to *engine once
// it runs (set after the engine is made, which needs the bound port).
func newTLSFront(f *tlsFlags, engine **core.Server, log *slog.Logger) (*tlsFront, error) {
	if f.listen == "" {
		if len(f.certs) > 0 {
			return nil, errors.New("--tls-cert needs --listen-tls")
		}
		return nil, nil
	}
	minV, err := f.versions()
	if err != nil {
		return nil, err
	}
	serveH2, err := f.h2.serveTLS(engine, log)
	if err != nil {
		return nil, err
	}
	var protos []string
	if on, _ := f.h2.loops(); on && f.h2.http2 {
		protos = []string{"h2", "http/1.1"} // served by the engine (core/h2conn.go)
	}
	srv, err := tlsedge.New(tlsedge.Config{
		Enroll: func(nc net.Conn) error { return (*engine).Enroll(nc, nil) },
		EnrollLoop: func(nc net.Conn, tc *tls.Conn, rec *sockpair.Conn, in *proxyproto.Info, done func()) error {
			return (*engine).EnrollTLS(nc, tc, rec, clientInfo(in), done)
		},
		ServeH2:          serveH2,
		NextProtos:       protos,
		MinVersion:       minV,
		HandshakeTimeout: f.handshakeTimeout,
		MaxHandshakes:    f.maxHandshakes,
		Relay:            f.relay,
		Logger:           log.With("component", "tls"),
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s for TLS: %w", f.listen, err)
	}
	return &tlsFront{srv: srv, ln: ln, log: log}, nil
}

// SetTable publishes t, or the fallback certificates (with t's client-certificate settings)
// while t has none.
func (t *tlsFront) SetTable(tbl *tlsedge.Table) {
	if tbl.Len() == 0 && len(t.fallback) > 0 {
		tbl = tlsedge.NewTable(t.fallback, tbl.Options())
	}
	t.srv.SetTable(tbl)
}

// run serves TLS until ctx is done, from the moment engine can take connections.
func (t *tlsFront) run(ctx context.Context, engine *core.Server) {
	select {
	case <-engine.Ready():
	case <-ctx.Done():
		_ = t.ln.Close()
		return
	}
	if err := t.srv.Serve(ctx, t.ln); err != nil {
		t.log.Error("TLS listener stopped", "err", err)
	}
}

// registerMetrics exports the TLS counters and each certificate's expiry.
func (t *tlsFront) registerMetrics(set *metric.Set) {
	s := t.srv
	set.CounterFunc("torii_tls_handshakes_total", func() uint64 { return s.Stats().Handshakes })
	set.CounterFunc("torii_tls_resumed_total", func() uint64 { return s.Stats().Resumed })
	set.GaugeFunc("torii_tls_handshakes_in_progress", func() float64 { return float64(s.Stats().InHandshake) })
	set.GaugeFunc("torii_tls_connections", func() float64 { return float64(s.Stats().Active) })
	set.CounterVecFunc("torii_tls_handshake_failures_total", "TLS handshakes that failed, by reason.", []string{"reason"},
		func(emit func(float64, ...string)) {
			st := s.Stats()
			for i, n := range st.Failures {
				emit(float64(n), tlsedge.ReasonNames[i])
			}
		})
}

// localCerts returns the certificate of the local development CA kept in dir/tls: the CA is
// made at first start (local-ca.pem, to give curl --cacert; its key stays in the directory,
// mode 0600), and a server certificate for demo.torii.local, localhost and the loopback
// addresses is issued from it, again when it is within 30 days of its end.
func localCerts(dir string) ([]tlsedge.Cert, string, error) {
	dir = filepath.Join(dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("cannot create %s: %w", dir, err)
	}
	caPath, caKey := filepath.Join(dir, "local-ca.pem"), filepath.Join(dir, "local-ca.key")
	srvPath, srvKey := filepath.Join(dir, "local-server.pem"), filepath.Join(dir, "local-server.key")
	ca, err := loadMinted(caPath, caKey)
	if err != nil {
		if ca, err = pki.Mint(pki.MintOptions{CommonName: "Torii local development CA", CA: true,
			NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour)}); err != nil {
			return nil, "", err
		}
		if err := writePair(caPath, caKey, ca); err != nil {
			return nil, "", err
		}
	}
	leaf, err := loadMinted(srvPath, srvKey)
	if err != nil || time.Until(leaf.Cert.NotAfter) < 30*24*time.Hour || leaf.Cert.CheckSignatureFrom(ca.Cert) != nil {
		if leaf, err = pki.Mint(pki.MintOptions{CommonName: "demo.torii.local", Issuer: ca,
			Hosts: []string{"demo.torii.local", "localhost", "127.0.0.1", "::1"}}); err != nil {
			return nil, "", err
		}
		if err := writePair(srvPath, srvKey, leaf); err != nil {
			return nil, "", err
		}
	}
	chain, key, err := pki.Check(leaf.ChainPEM, leaf.KeyPEM, time.Time{}, false)
	if err != nil {
		return nil, "", err
	}
	pair := pki.Pair(chain, key)
	return []tlsedge.Cert{{ID: "torii-local", Names: pki.Describe(chain).SANs, Pair: &pair, Default: true}}, caPath, nil
}

func loadMinted(certPath, keyPath string) (*pki.Minted, error) {
	c, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	k, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	return pki.LoadMinted(string(c), string(k))
}

func writePair(certPath, keyPath string, m *pki.Minted) error {
	if err := os.WriteFile(keyPath, []byte(m.KeyPEM), 0o600); err != nil {
		return fmt.Errorf("cannot write %s: %w", keyPath, err)
	}
	if err := os.WriteFile(certPath, []byte(m.ChainPEM), 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", certPath, err)
	}
	return nil
}

// startTLSFront binds --listen-tls (nil when not given) with its fallback certificates: the
// --tls-cert pairs, else the local CA's in localDir, else an error. It announces the address.
func startTLSFront(tf *tlsFlags, srv **core.Server, log *slog.Logger, localDir string, ready *readiness) (*tlsFront, error) {
	front, err := newTLSFront(tf, srv, log)
	if err != nil || front == nil {
		return nil, err
	}
	certs, err := tf.fileCerts()
	if err == nil && len(certs) == 0 {
		if localDir == "" {
			err = errors.New("--listen-tls needs --tls-cert and --tls-key")
		} else {
			var caPath string
			certs, caPath, err = localCerts(localDir)
			if err == nil {
				log.Info("TLS: certificate of the local CA served while the store has none; clients trust it with --cacert "+caPath,
					"names", describeNames(certs))
			}
		}
	}
	if err != nil {
		_ = front.ln.Close()
		return nil, err
	}
	front.fallback = certs
	ready.addrs.TLS = reachable(tf.listen, front.ln.Addr().String())
	return front, nil
}

// port is the bound TLS port, for ForceHttpsTraffic's redirections.
func (t *tlsFront) port() int {
	if a, ok := t.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// describeNames is for logs: the names a set of certificates serves.
func describeNames(cs []tlsedge.Cert) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Names...)
	}
	return strings.Join(n, ",")
}

// acmeFlags are serve's ACME flags.
type acmeFlags struct {
	directory string
	email     string
	caFile    string
	every     time.Duration
}

func (f *acmeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.directory, "acme-directory", "", "ACME directory URL: certificates marked letsEncrypt are obtained and renewed there\n"+
		"(HTTP-01 on --listen; empty: no ACME)")
	fs.StringVar(&f.email, "acme-email", "", "contact address of the ACME account")
	fs.StringVar(&f.caFile, "acme-ca-file", "", "PEM roots that the ACME directory's HTTPS certificate chains to (default: the system's)")
	fs.DurationVar(&f.every, "acme-check-every", time.Hour, "how often certificates are checked for issuance or renewal")
}

// acmeFront is the ACME challenge server on loopback and the manager that orders certificates.
type acmeFront struct {
	ln  net.Listener
	srv *http.Server
	mgr *acmecert.Manager
}

// newACME starts nothing yet: it binds the challenge server's loopback port (nil without
// --acme-directory).
func newACME(f *acmeFlags, log *slog.Logger) (*acmeFront, error) {
	if f.directory == "" {
		return nil, nil
	}
	client := http.DefaultClient
	if f.caFile != "" {
		pemBytes, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read --acme-ca-file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("--acme-ca-file %s: no PEM certificate", f.caFile)
		}
		client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	}
	chals := acmecert.NewChallenges()
	mgr, err := acmecert.New(acmecert.Config{DirectoryURL: f.directory, Email: f.email, HTTPClient: client,
		Challenges: chals, Logger: log.With("component", "acme")})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cannot listen on loopback for ACME challenges: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(acmecert.ChallengePrefix, chals)
	return &acmeFront{ln: ln, mgr: mgr, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

func (a *acmeFront) addr() netip.AddrPort { return netip.MustParseAddrPort(a.ln.Addr().String()) }

// run serves the challenges and orders due certificates every interval until ctx ends.
func (a *acmeFront) run(ctx context.Context, every time.Duration, list func() []acmecert.Managed, save acmecert.Save) {
	go func() { _ = a.srv.Serve(a.ln) }()
	a.mgr.Run(ctx, every, list, save)
	_ = a.srv.Close()
}

// clientInfo is what a PROXY header of in would tell the engine.
func clientInfo(in *proxyproto.Info) *core.ClientInfo {
	return &core.ClientInfo{
		Addr: in.Src, TLS: in.SSL, ALPN: in.ALPN, ServerName: in.Authority,
		TLSVersion: in.TLSVersion, Cipher: in.Cipher, ClientCert: in.ClientCert,
		ClientCN: in.ClientCN, ClientSubject: in.Subject, ClientFingerprint: in.Fingerprint,
		ClientVerifiedBy: in.VerifiedBy, ClientSerial: in.Serial, ClientIssuer: in.Issuer,
	}
}
