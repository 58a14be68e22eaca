package upstls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torii-gateway/torii/internal/sockpair"
)

// Config is a target's `tls_config`, as Otoroshi writes it.
type Config struct {
	Enabled      bool     `json:"enabled"`
	Certs        []string `json:"certs"`
	TrustedCerts []string `json:"trusted_certs"`
	Loose        bool     `json:"loose"`
	TrustAll     bool     `json:"trust_all"`
}

// Store is the certificate store as the dialer needs it, by certificate id.
type Store interface {
	// ClientCert returns the certificate (chain and key) with that id.
	ClientCert(id string) (*tls.Certificate, bool)
	// CA returns the certificate with that id, to trust as a root.
	CA(id string) (*x509.Certificate, bool)
}

// Profile is one interned TLS client configuration: server name plus tls_config.
type Profile struct {
	ID         uint32 // > 0, stable for the life of the process
	ServerName string // target hostname, sent as SNI unless it is an IP address
	Config     Config

	sessions tls.ClientSessionCache

	mu     sync.Mutex
	gen    uint64 // store generation the cached tls.Config was built from
	cached *tls.Config
	err    error
}

// sessionCacheSize bounds the TLS sessions kept per profile (one per backend address in
// practice; 64 covers many targets sharing one configuration).
const sessionCacheSize = 64

type profileKey struct {
	name, certs, trusted string
	enabled, loose, all  bool
}

var (
	profMu   sync.Mutex
	profiles = map[profileKey]*Profile{}
	nextID   uint32

	store    atomic.Pointer[storeBox]
	storeGen atomic.Uint64
)

type storeBox struct{ s Store }

// SetStore publishes the certificate store used by the next dials. Safe from any goroutine.
func SetStore(s Store) {
	store.Store(&storeBox{s})
	storeGen.Add(1)
}

// Intern returns the profile of that server name and configuration, the same pointer every
// time for equal inputs. Safe from any goroutine; it takes a lock: call it at compile time.
func Intern(serverName string, c Config) *Profile {
	k := profileKey{name: serverName, certs: joinIDs(c.Certs), trusted: joinIDs(c.TrustedCerts),
		enabled: c.Enabled, loose: c.Loose, all: c.TrustAll}
	profMu.Lock()
	defer profMu.Unlock()
	if p := profiles[k]; p != nil {
		return p
	}
	nextID++
	c.Certs = append([]string(nil), c.Certs...)
	c.TrustedCerts = append([]string(nil), c.TrustedCerts...)
	p := &Profile{ID: nextID, ServerName: serverName, Config: c, sessions: tls.NewLRUClientSessionCache(sessionCacheSize)}
	profiles[k] = p
	return p
}

func joinIDs(ids []string) string {
	s := ""
	for _, id := range ids {
		s += id + "\x00"
	}
	return s
}

// tlsConfig returns the crypto/tls configuration of p for the current store, built once per
// store generation.
func (p *Profile) tlsConfig() (*tls.Config, error) {
	gen := storeGen.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cached != nil && p.gen == gen || p.err != nil && p.gen == gen {
		return p.cached, p.err
	}
	p.gen = gen
	p.cached, p.err = p.build()
	return p.cached, p.err
}

func (p *Profile) build() (*tls.Config, error) {
	c := p.Config
	tc := &tls.Config{ClientSessionCache: p.sessions, MinVersion: tls.VersionTLS12}
	if net.ParseIP(p.ServerName) == nil {
		tc.ServerName = p.ServerName
	}
	var st Store
	if b := store.Load(); b != nil {
		st = b.s
	}
	if c.Enabled {
		for _, id := range c.Certs {
			if st == nil {
				return nil, fmt.Errorf("tls_config.certs: certificate %q: %w", id, ErrNoCert)
			}
			cert, ok := st.ClientCert(id)
			if !ok {
				return nil, fmt.Errorf("tls_config.certs: certificate %q: %w", id, ErrNoCert)
			}
			tc.Certificates = append(tc.Certificates, *cert)
		}
		if len(c.TrustedCerts) > 0 {
			tc.RootCAs = x509.NewCertPool()
			for _, id := range c.TrustedCerts {
				var ca *x509.Certificate
				ok := false
				if st != nil {
					ca, ok = st.CA(id)
				}
				if !ok {
					return nil, fmt.Errorf("tls_config.trusted_certs: certificate %q: %w", id, ErrNoCert)
				}
				tc.RootCAs.AddCert(ca)
			}
		}
	}
	switch {
	case c.TrustAll:
		tc.InsecureSkipVerify = true
	case c.Loose:
		// Chain verified, host name not: crypto/tls offers this only through
		// InsecureSkipVerify plus a verification of our own.
		roots := tc.RootCAs
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("upstls: the backend sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return tc, nil
}

// ErrNoCert: a certificate named in tls_config is not in the store (or has no usable key).
var ErrNoCert = errors.New("upstls: certificate not found in the store")

// Reason names why a dial failed at the TLS layer, for the event; "" for an error that is not
// a TLS one (connect refused, timeout...).
func Reason(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	var ae tls.AlertError
	var re tls.RecordHeaderError
	switch {
	case errors.As(err, &hn):
		return "errors.upstream.tls.hostname.mismatch"
	case errors.As(err, &ua):
		return "errors.upstream.tls.unknown.authority"
	case errors.As(err, &ci):
		return "errors.upstream.tls.certificate.invalid"
	case errors.Is(err, ErrNoCert):
		return "errors.upstream.tls.certificate.missing"
	case errors.As(err, &ve):
		return "errors.upstream.tls.verification.failed"
	case errors.As(err, &ae), errors.As(err, &re), errors.Is(err, errHandshake):
		return "errors.upstream.tls.handshake.failed"
	}
	return ""
}

var errHandshake = errors.New("upstls: handshake failed")

// DialTLS connects to addr with p's TLS configuration and completes the handshake within ctx
// (the health checker's dialer; Dial for the engine). Blocking: never call it on an event loop.
// An error wraps the cause; Reason classifies TLS failures.
func DialTLS(ctx context.Context, addr string, p *Profile) (*tls.Conn, error) {
	return DialALPN(ctx, addr, p, nil)
}

// DialALPN is DialTLS offering the application protocols protos (ALPN), for a backend spoken to
// in HTTP/2 (package h2up offers "h2"). The caller checks what was negotiated.
func DialALPN(ctx context.Context, addr string, p *Profile, protos []string) (*tls.Conn, error) {
	tc, err := p.tlsConfig()
	if err != nil {
		return nil, err
	}
	if len(protos) > 0 {
		tc = tc.Clone() // the session cache is shared by the clone
		tc.NextProtos = protos
	}
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: tc}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var ne net.Error
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" || errors.As(err, &ne) && ne.Timeout() {
			return nil, err
		}
		if Reason(err) == "" {
			err = fmt.Errorf("%w: %w", errHandshake, err)
		}
		return nil, fmt.Errorf("cannot establish TLS with %s: %w", addr, err)
	}
	return c.(*tls.Conn), nil
}

// Dial connects to addr with p's TLS configuration within timeout, then returns the engine's end
// of a socketpair relayed to the TLS connection (see the package comment). Blocking: never call
// it on an event loop. An error wraps the cause; Reason classifies TLS failures.
func Dial(ctx context.Context, addr string, p *Profile, timeout time.Duration) (*net.UnixConn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := DialTLS(ctx, addr, p)
	if err != nil {
		return nil, err
	}
	engine, ours, err := sockpair.New()
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	go sockpair.Relay(c, ours)
	return engine, nil
}
