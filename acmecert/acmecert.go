// Package acmecert obtains and renews certificates from an ACME CA (RFC 8555) with HTTP-01
// challenges, through golang.org/x/crypto/acme. The challenge answers are served by Challenges,
// an http.Handler that the gateway mounts at /.well-known/acme-challenge/ on its plaintext
// listener; certificates are handed to a save callback, which stores them as certificate
// entities in bbolt like any other. Renewal happens at two thirds of a certificate's lifetime,
// with exponential backoff after a failure.
//
// # Caveats
//
// Manager and Challenges are safe from any goroutine. Obtain makes network calls and blocks for
// seconds: it runs on its own goroutine (Run), never on an event loop or under the admin lock.
package acmecert

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
)

// ChallengePrefix is the path under which HTTP-01 answers are served.
const ChallengePrefix = "/.well-known/acme-challenge/"

// Challenges holds the HTTP-01 answers of orders in progress.
type Challenges struct {
	mu sync.RWMutex
	m  map[string]string // token → key authorization
}

// NewChallenges returns an empty set.
func NewChallenges() *Challenges { return &Challenges{m: map[string]string{}} }

func (c *Challenges) put(token, keyAuth string) {
	c.mu.Lock()
	c.m[token] = keyAuth
	c.mu.Unlock()
}

func (c *Challenges) remove(token string) {
	c.mu.Lock()
	delete(c.m, token)
	c.mu.Unlock()
}

// ServeHTTP answers GET ChallengePrefix+token with the key authorization, 404 otherwise.
func (c *Challenges) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, ChallengePrefix)
	c.mu.RLock()
	ka, found := c.m[token]
	c.mu.RUnlock()
	if !ok || !found || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(ka))
}

// Config configures a Manager.
type Config struct {
	DirectoryURL string
	Email        string
	// AccountKey signs requests; nil: a new ECDSA P-256 key (a new account) per Manager.
	AccountKey crypto.Signer
	// HTTPClient talks to the CA; nil: http.DefaultClient.
	HTTPClient *http.Client
	Challenges *Challenges
	Logger     *slog.Logger
	// Now is the clock of renewal decisions; nil: time.Now.
	Now func() time.Time
}

// Manager obtains certificates and renews them.
type Manager struct {
	cfg    Config
	client *acme.Client
	regMu  sync.Mutex
	reg    bool

	mu    sync.Mutex
	state map[string]*renewState // by certificate id
}

type renewState struct {
	failures  int
	nextTry   time.Time
	lastError string
}

// New returns a Manager; nothing is sent before the first Obtain.
func New(cfg Config) (*Manager, error) {
	if cfg.DirectoryURL == "" || cfg.Challenges == nil {
		return nil, errors.New("cannot configure ACME: DirectoryURL and Challenges are required")
	}
	if cfg.AccountKey == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("cannot make ACME account key: %w", err)
		}
		cfg.AccountKey = k
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{
		cfg:    cfg,
		client: &acme.Client{Key: cfg.AccountKey, DirectoryURL: cfg.DirectoryURL, HTTPClient: cfg.HTTPClient, UserAgent: "torii"},
		state:  map[string]*renewState{},
	}, nil
}

func (m *Manager) register(ctx context.Context) error {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	if m.reg {
		return nil
	}
	acct := &acme.Account{}
	if m.cfg.Email != "" {
		acct.Contact = []string{"mailto:" + m.cfg.Email}
	}
	_, err := m.client.Register(ctx, acct, acme.AcceptTOS)
	if err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return fmt.Errorf("cannot register ACME account at %s: %w", m.cfg.DirectoryURL, err)
	}
	m.reg = true
	return nil
}

// Obtain orders a certificate for domains, answers the HTTP-01 challenges through Challenges,
// and returns the chain (leaf first) and a new ECDSA P-256 key, in PEM.
func (m *Manager) Obtain(ctx context.Context, domains []string) (chainPEM, keyPEM string, err error) {
	if len(domains) == 0 {
		return "", "", errors.New("cannot order a certificate: no domain")
	}
	if err := m.register(ctx); err != nil {
		return "", "", err
	}
	order, err := m.client.AuthorizeOrder(ctx, acme.DomainIDs(domains...))
	if err != nil {
		return "", "", fmt.Errorf("cannot create ACME order for %v: %w", domains, err)
	}
	for _, u := range order.AuthzURLs {
		if err := m.authorize(ctx, u); err != nil {
			return "", "", err
		}
	}
	if _, err := m.client.WaitOrder(ctx, order.URI); err != nil {
		return "", "", fmt.Errorf("ACME order for %v not ready: %w", domains, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("cannot make certificate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: domains[0]}, DNSNames: domains}, key)
	if err != nil {
		return "", "", fmt.Errorf("cannot make CSR: %w", err)
	}
	ders, _, err := m.client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return "", "", fmt.Errorf("cannot finalize ACME order for %v: %w", domains, err)
	}
	var b strings.Builder
	for _, d := range ders {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: d})
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("cannot encode key: %w", err)
	}
	return b.String(), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), nil
}

// authorize answers the HTTP-01 challenge of one authorization and waits for its outcome.
func (m *Manager) authorize(ctx context.Context, url string) error {
	z, err := m.client.GetAuthorization(ctx, url)
	if err != nil {
		return fmt.Errorf("cannot read ACME authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return nil
	}
	var chal *acme.Challenge
	for _, c := range z.Challenges {
		if c.Type == "http-01" {
			chal = c
			break
		}
	}
	if chal == nil {
		return fmt.Errorf("ACME authorization for %s offers no http-01 challenge", z.Identifier.Value)
	}
	ka, err := m.client.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		return fmt.Errorf("cannot compute http-01 answer: %w", err)
	}
	m.cfg.Challenges.put(chal.Token, ka)
	defer m.cfg.Challenges.remove(chal.Token)
	if _, err := m.client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("cannot accept http-01 challenge for %s: %w", z.Identifier.Value, err)
	}
	if _, err := m.client.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("http-01 challenge for %s failed: %w", z.Identifier.Value, err)
	}
	return nil
}

// Managed is a certificate under ACME management.
type Managed struct {
	ID       string   // the certificate entity's id
	Domains  []string // the names to order
	From, To time.Time
	// Missing: no certificate yet (a new entity asking for one).
	Missing bool
}

// RenewAt is when a certificate valid from..to is renewed: two thirds into its lifetime.
func RenewAt(from, to time.Time) time.Time { return from.Add(to.Sub(from) * 2 / 3) }

// Backoff after n consecutive failures: 1 min, doubling, at most 24 h.
func Backoff(n int) time.Duration {
	return min(time.Minute<<min(max(n-1, 0), 11), 24*time.Hour)
}

// Save stores a certificate obtained for the managed certificate id.
type Save func(ctx context.Context, id, chainPEM, keyPEM string) error

// Due lists the certificates of list to order now: missing, or past RenewAt, and not waiting
// for a backoff to end.
func (m *Manager) Due(list []Managed) []Managed {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Managed
	for _, c := range list {
		if st := m.state[c.ID]; st != nil && now.Before(st.nextTry) {
			continue
		}
		if c.Missing || !now.Before(RenewAt(c.From, c.To)) {
			out = append(out, c)
		}
	}
	return out
}

// RenewDue orders every due certificate of list, one after the other, and saves each one
// obtained. A failure puts that certificate in backoff and is returned with the others.
func (m *Manager) RenewDue(ctx context.Context, list []Managed, save Save) error {
	var errs []error
	for _, c := range m.Due(list) {
		chain, key, err := m.Obtain(ctx, c.Domains)
		if err == nil {
			err = save(ctx, c.ID, chain, key)
		}
		m.mu.Lock()
		st := m.state[c.ID]
		if st == nil {
			st = &renewState{}
			m.state[c.ID] = st
		}
		if err != nil {
			st.failures++
			st.nextTry = m.cfg.Now().Add(Backoff(st.failures))
			st.lastError = err.Error()
			m.cfg.Logger.Warn("ACME certificate not obtained", "certificate", c.ID, "domains", c.Domains,
				"failures", st.failures, "next_try", st.nextTry, "err", err)
			errs = append(errs, fmt.Errorf("certificate %s: %w", c.ID, err))
		} else {
			delete(m.state, c.ID)
			m.cfg.Logger.Info("ACME certificate obtained", "certificate", c.ID, "domains", c.Domains)
		}
		m.mu.Unlock()
	}
	return errors.Join(errs...)
}

// NextTry returns when certificate id is tried again after failures (zero: not in backoff).
func (m *Manager) NextTry(id string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.state[id]; st != nil {
		return st.nextTry
	}
	return time.Time{}
}

// Run calls RenewDue with list() every interval until ctx is done.
func (m *Manager) Run(ctx context.Context, interval time.Duration, list func() []Managed, save Save) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = m.RenewDue(ctx, list(), save)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
