package tlsedge

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"time"

	"github.com/torii-gateway/torii/pki"
)

// Cert is one server certificate offered by SNI.
type Cert struct {
	ID    string           // the certificate entity's id
	Names []string         // host names it serves: exact ("api.example.com") or wildcard ("*.example.com")
	Pair  *tls.Certificate // chain and key; Leaf set
	// Default marks the certificate served to a client whose SNI matches no name, or that sends
	// none. Without one, the first certificate of the table is the default.
	Default bool

	fingerprint string     // of the leaf, set by NewTable
	box         *stapleBox // the leaf with its OCSP staple, once fetched
}

// served is what a handshake gets: the stapled copy when there is one.
func (c *Cert) served() *tls.Certificate {
	if p := c.box.p.Load(); p != nil {
		return p
	}
	return c.Pair
}

// CA is a CA certificate of the store that may verify client certificates.
type CA struct {
	ID   string
	Cert *x509.Certificate
}

// TableOptions are the parts of a Table beyond its server certificates.
type TableOptions struct {
	// ClientCAs verify client certificates; nil: client certificates are never requested.
	ClientCAs []CA
	// ClientAuthHosts are the SNI names (exact or "*.suffix") of routes that want a client
	// certificate: the handshake asks for one (and verifies it against ClientCAs) only there.
	ClientAuthHosts []string
	// MinVersion and MaxVersion, when not zero, replace the server's (Config) for the handshakes
	// that start with this table: the admin's global tlsSettings, hot-applied at publish. A set
	// field wins over the server's other bound when they cross (see Server.versions).
	MinVersion, MaxVersion uint16
}

// Table is the SNI table, compiled once per publish: each handshake does one lookup. It is
// immutable once built and safe from any goroutine.
type Table struct {
	exact map[string]*Cert
	wild  map[string]*Cert // by the suffix after "*." ("example.com")
	def   *Cert
	certs []*Cert

	opts      TableOptions
	caPool    *x509.CertPool
	cas       []CA
	authExact map[string]bool
	authWild  map[string]bool
}

// NewTable compiles certs. Names are case-insensitive. Where two certificates claim one name the
// one that expires last wins (a renewal added before the old one is removed takes over at once).
func NewTable(certs []Cert, o TableOptions) *Table {
	t := &Table{exact: map[string]*Cert{}, wild: map[string]*Cert{}, authExact: map[string]bool{}, authWild: map[string]bool{}, opts: o}
	better := func(old, c *Cert) bool {
		return old == nil || c.Pair.Leaf.NotAfter.After(old.Pair.Leaf.NotAfter)
	}
	for i := range certs {
		c := &certs[i]
		if c.Pair == nil || c.Pair.Leaf == nil {
			continue
		}
		c.fingerprint = pki.Fingerprint(c.Pair.Leaf)
		c.box = &stapleBox{}
		t.certs = append(t.certs, c)
		if c.Default && (t.def == nil || !t.def.Default || better(t.def, c)) {
			t.def = c
		}
		for _, n := range c.Names {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			if suf, ok := strings.CutPrefix(n, "*."); ok {
				if better(t.wild[suf], c) {
					t.wild[suf] = c
				}
			} else if n != "" && better(t.exact[n], c) {
				t.exact[n] = c
			}
		}
	}
	if t.def == nil && len(t.certs) > 0 {
		t.def = t.certs[0]
	}
	if len(o.ClientCAs) > 0 {
		t.caPool = x509.NewCertPool()
		for _, ca := range o.ClientCAs {
			t.caPool.AddCert(ca.Cert)
		}
		t.cas = o.ClientCAs
		for _, h := range o.ClientAuthHosts {
			h = strings.ToLower(h)
			if suf, ok := strings.CutPrefix(h, "*."); ok {
				t.authWild[suf] = true
			} else {
				t.authExact[h] = true
			}
		}
	}
	return t
}

// Options returns the options t was built with.
func (t *Table) Options() TableOptions { return t.opts }

// Len is the number of server certificates.
func (t *Table) Len() int { return len(t.certs) }

// Certs returns the table's certificates; the slice must not be changed.
func (t *Table) Certs() []*Cert { return t.certs }

// Lookup returns the certificate for server name sni: the exact name, else the most specific
// wildcard (for a.b.example.com: *.b.example.com, then *.example.com), else the default. Nil
// only when the table is empty.
func (t *Table) Lookup(sni string) *Cert {
	if sni == "" {
		return t.def
	}
	name := lowerASCII(strings.TrimSuffix(sni, "."))
	if c := t.exact[name]; c != nil {
		return c
	}
	for i := strings.IndexByte(name, '.'); i >= 0; {
		suf := name[i+1:]
		if c := t.wild[suf]; c != nil {
			return c
		}
		j := strings.IndexByte(suf, '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return t.def
}

// wantsClientCert reports whether a handshake for sni asks for a client certificate.
func (t *Table) wantsClientCert(sni string) bool {
	if t.caPool == nil {
		return false
	}
	name := lowerASCII(sni)
	if t.authExact[name] {
		return true
	}
	for i := strings.IndexByte(name, '.'); i >= 0; {
		suf := name[i+1:]
		if t.authWild[suf] {
			return true
		}
		j := strings.IndexByte(suf, '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return false
}

// verifiedBy returns the id of the store CA that the verified chain ends in, or "".
func (t *Table) verifiedBy(chains [][]*x509.Certificate) string {
	for _, ch := range chains {
		if len(ch) == 0 {
			continue
		}
		top := ch[len(ch)-1]
		for _, ca := range t.cas {
			if ca.Cert.Equal(top) {
				return ca.ID
			}
		}
		// The chain may end at an intermediate CA of the store.
		for _, c := range ch[1:] {
			for _, ca := range t.cas {
				if ca.Cert.Equal(c) {
					return ca.ID
				}
			}
		}
	}
	return ""
}

// Expiry is one certificate's end of validity.
type Expiry struct {
	ID       string
	NotAfter time.Time
}

// Expiries lists the server certificates' ends of validity.
func (t *Table) Expiries() []Expiry {
	out := make([]Expiry, 0, len(t.certs))
	for _, c := range t.certs {
		out = append(out, Expiry{ID: c.ID, NotAfter: c.Pair.Leaf.NotAfter})
	}
	return out
}

// lowerASCII lowercases s without allocating when it is already lowercase.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
