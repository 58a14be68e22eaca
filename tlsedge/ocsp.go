package tlsedge

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/torii-gateway/torii/pki"
)

// stapleBox holds a certificate's copy with its current OCSP staple, swapped by the stapler;
// a handshake reads it with one atomic load.
type stapleBox struct {
	p atomic.Pointer[tls.Certificate]
}

// stapleEntry is a fetched OCSP response, kept across table rebuilds by leaf fingerprint.
type stapleEntry struct {
	der        []byte
	refreshAt  time.Time // half-way to NextUpdate
	expiresAt  time.Time // NextUpdate: the staple is dropped after it
	failures   int
	retryAfter time.Time
}

// stapler fetches OCSP responses for the certificates that name a responder, off the handshake
// path: a handshake never waits for a responder, it staples what is there or nothing.
type stapler struct {
	client *http.Client
	now    func() time.Time
	mu     sync.Mutex
	cache  map[string]*stapleEntry // by leaf fingerprint
}

// maxOCSPResponse bounds a responder's answer (a response is a few KiB at most).
const maxOCSPResponse = 64 << 10

func newStapler() *stapler {
	return &stapler{client: &http.Client{Timeout: 5 * time.Second}, now: time.Now, cache: map[string]*stapleEntry{}}
}

// apply sets the staples already fetched on the certificates of t.
func (st *stapler) apply(t *Table) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, c := range t.certs {
		if e := st.cache[c.fingerprint]; e != nil && e.der != nil {
			c.setStaple(e.der)
		}
	}
}

func (c *Cert) setStaple(der []byte) {
	cp := *c.Pair
	cp.OCSPStaple = der
	c.box.p.Store(&cp)
}

// refresh fetches the responses that are missing or half-way to expiry for the certificates of
// t, sequentially (one responder request at a time), and sets them.
func (st *stapler) refresh(ctx context.Context, t *Table) {
	for _, c := range t.certs {
		leaf := c.Pair.Leaf
		if len(leaf.OCSPServer) == 0 || len(c.Pair.Certificate) < 2 {
			continue
		}
		now := st.now()
		st.mu.Lock()
		e := st.cache[c.fingerprint]
		if e == nil {
			e = &stapleEntry{}
			st.cache[c.fingerprint] = e
		}
		due := (e.der == nil || !now.Before(e.refreshAt)) && !now.Before(e.retryAfter)
		st.mu.Unlock()
		if !due {
			continue
		}
		der, next, err := st.fetch(ctx, leaf, c.Pair.Certificate[1])
		st.mu.Lock()
		if err != nil {
			// Back off: 1 min, 2, 4... up to an hour; an expired staple is dropped.
			e.failures++
			e.retryAfter = now.Add(min(time.Minute<<min(e.failures-1, 6), time.Hour))
			if e.der != nil && now.After(e.expiresAt) {
				e.der = nil
				c.box.p.Store(nil)
			}
		} else {
			e.failures = 0
			e.der = der
			e.refreshAt = now.Add(next.Sub(now) / 2)
			e.expiresAt = next
			c.setStaple(der)
		}
		st.mu.Unlock()
	}
}

// fetch asks leaf's first responder for its status and returns the DER response if it says Good.
func (st *stapler) fetch(ctx context.Context, leaf *x509.Certificate, issuerDER []byte) ([]byte, time.Time, error) {
	issuer, err := x509.ParseCertificate(issuerDER)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cannot parse issuer: %w", err)
	}
	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cannot make OCSP request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, leaf.OCSPServer[0], bytes.NewReader(req))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cannot make OCSP request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	resp, err := st.client.Do(hreq)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cannot reach OCSP responder: %w", err)
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(io.LimitReader(resp.Body, maxOCSPResponse))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("OCSP responder answered %d: %v", resp.StatusCode, err)
	}
	r, err := ocsp.ParseResponseForCert(der, leaf, issuer)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cannot parse OCSP response: %w", err)
	}
	if r.Status != ocsp.Good {
		return nil, time.Time{}, fmt.Errorf("OCSP status %d for %s", r.Status, pki.Fingerprint(leaf))
	}
	next := r.NextUpdate
	if next.IsZero() {
		next = st.now().Add(time.Hour)
	}
	return der, next, nil
}
