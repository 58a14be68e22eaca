package admin

import (
	"crypto/tls"
	"crypto/x509"
	"time"

	"github.com/torii-gateway/torii/core/upstls"
	"github.com/torii-gateway/torii/pki"
)

// upstreamCerts is the certificate store as TLS targets use it (package upstls): by certificate
// id, the chain with its key (tls_config.certs, client certificates for mTLS to a backend) and
// the first certificate of the chain (tls_config.trusted_certs, trusted as a root). Revoked
// certificates are left out. Immutable once built.
type upstreamCerts struct {
	pairs map[string]*tls.Certificate
	cas   map[string]*x509.Certificate
}

func compileUpstreamCerts(st *state) *upstreamCerts {
	u := &upstreamCerts{pairs: map[string]*tls.Certificate{}, cas: map[string]*x509.Certificate{}}
	for _, e := range st.ents[kCerts].All() {
		doc := e.doc()
		if revoked, _ := doc["revoked"].(bool); revoked {
			continue
		}
		chainPEM, _ := doc["chain"].(string)
		keyPEM, _ := doc["privateKey"].(string)
		chain, key, err := pki.Check(chainPEM, keyPEM, time.Time{}, false)
		if err != nil {
			continue
		}
		u.cas[e.id] = chain[0]
		if key != nil {
			pair := pki.Pair(chain, key)
			u.pairs[e.id] = &pair
		}
	}
	return u
}

// ClientCert implements upstls.Store.
func (u *upstreamCerts) ClientCert(id string) (*tls.Certificate, bool) {
	c, ok := u.pairs[id]
	return c, ok
}

// CA implements upstls.Store.
func (u *upstreamCerts) CA(id string) (*x509.Certificate, bool) {
	c, ok := u.cas[id]
	return c, ok
}

var _ upstls.Store = (*upstreamCerts)(nil)
