package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Minted is a certificate and its key in PEM, as the certificates entity stores them.
type Minted struct {
	ChainPEM string
	KeyPEM   string
	Cert     *x509.Certificate
	key      *ecdsa.PrivateKey
}

// MintOptions describe a certificate to make. Keys are ECDSA P-256.
type MintOptions struct {
	CommonName string
	Hosts      []string // DNS names or IP addresses (SANs)
	NotBefore  time.Time
	NotAfter   time.Time
	CA         bool
	Client     bool    // for client authentication (mTLS) rather than a server
	Issuer     *Minted // nil: self-signed
	OCSPServer []string
}

// Mint makes a certificate and its key.
func Mint(o MintOptions) (*Minted, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cannot generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("cannot generate serial: %w", err)
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.Add(365 * 24 * time.Hour)
	}
	tpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.CommonName, Organization: []string{"Torii"}},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		OCSPServer:   o.OCSPServer,
	}
	switch {
	case o.CA:
		tpl.IsCA = true
		tpl.BasicConstraintsValid = true
		tpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	case o.Client:
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tpl.IPAddresses = append(tpl.IPAddresses, ip)
		} else {
			tpl.DNSNames = append(tpl.DNSNames, h)
		}
	}
	parent, signer := tpl, key
	var chain []byte
	if o.Issuer != nil {
		parent, signer = o.Issuer.Cert, o.Issuer.key
		chain = []byte(o.Issuer.ChainPEM)
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("cannot sign certificate %q: %w", o.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("cannot parse certificate %q: %w", o.CommonName, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("cannot encode key: %w", err)
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if o.Issuer != nil && !o.Issuer.Cert.IsCA {
		chain = nil
	}
	if o.Issuer != nil && o.Issuer.Cert.IsCA && isSelfSigned(o.Issuer.Cert) {
		chain = nil // a root is not sent in the chain
	}
	return &Minted{
		ChainPEM: string(pemCert) + string(chain),
		KeyPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})),
		Cert:     cert,
		key:      key,
	}, nil
}

// Signer is the certificate's private key.
func (m *Minted) Signer() crypto.Signer { return m.key }

func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject)
}

// LoadMinted rebuilds a Minted (for use as an Issuer) from its PEM forms.
func LoadMinted(chainPEM, keyPEM string) (*Minted, error) {
	chain, key, err := Check(chainPEM, keyPEM, time.Time{}, false)
	if err != nil {
		return nil, err
	}
	ek, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("cannot use a %T key as an issuer: ECDSA only", key)
	}
	return &Minted{ChainPEM: chainPEM, KeyPEM: keyPEM, Cert: chain[0], key: ek}, nil
}
