// Package pki parses, checks and makes the X.509 material of Torii's certificates entity: PEM
// chains and private keys as Otoroshi stores them, the fields Otoroshi derives from a chain
// (subject, from, to, sans, ca, selfSigned), and a small local CA for development.
//
// # Caveats
//
// Everything here is pure and safe from any goroutine. Errors never quote private key bytes.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors, wrapped with the field they concern by FieldError.
var (
	// ErrNoPEM says a field holds no PEM block of the expected type.
	ErrNoPEM = errors.New("pki: no PEM block")
	// ErrKeyMismatch says a private key is not the key of the chain's first certificate.
	ErrKeyMismatch = errors.New("pki: private key does not match the first certificate of the chain")
	// ErrExpired says a certificate's validity period has ended (or not begun).
	ErrExpired = errors.New("pki: certificate not valid now")
)

// FieldError is a problem with one field of a certificate entity ("chain", "privateKey").
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// ParseChain decodes every CERTIFICATE block of s, leaf first.
func ParseChain(s string) ([]*x509.Certificate, error) {
	rest := []byte(s)
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("cannot parse certificate %d of the chain: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: expected at least one -----BEGIN CERTIFICATE----- block", ErrNoPEM)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: trailing bytes after the last PEM block", ErrNoPEM)
	}
	return out, nil
}

// ParseKey decodes the first private key block of s (PKCS#8, PKCS#1 or SEC 1).
func ParseKey(s string) (crypto.Signer, error) {
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("%w: expected a -----BEGIN PRIVATE KEY----- block", ErrNoPEM)
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			// The parser's message says what is wrong with the structure, never the key bytes.
			return nil, fmt.Errorf("cannot parse %s block: %w", b.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		return s, nil
	}
}

// matches reports whether priv is the private half of pub.
func matches(pub crypto.PublicKey, priv crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch p := pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return p.(equaler).Equal(priv.Public())
	}
	return false
}

// Info is what Otoroshi derives from a chain.
type Info struct {
	Subject     string
	From, To    time.Time
	SANs        []string
	CA          bool
	SelfSigned  bool
	Client      bool   // the leaf is for client authentication only
	Fingerprint string // SHA-256 of the leaf's DER, lowercase hex
}

// Describe derives Info from the leaf of chain.
func Describe(chain []*x509.Certificate) Info {
	leaf := chain[0]
	sans := append([]string{}, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		sans = append(sans, ip.String())
	}
	client := false
	server := false
	for _, u := range leaf.ExtKeyUsage {
		client = client || u == x509.ExtKeyUsageClientAuth
		server = server || u == x509.ExtKeyUsageServerAuth
	}
	return Info{
		Subject:     leaf.Subject.String(),
		From:        leaf.NotBefore,
		To:          leaf.NotAfter,
		SANs:        sans,
		CA:          leaf.IsCA,
		SelfSigned:  bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil,
		Client:      client && !server,
		Fingerprint: Fingerprint(leaf),
	}
}

// Fingerprint is the SHA-256 of c's DER encoding in lowercase hex.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Check parses chain and key, checks that key belongs to the chain's leaf, and with checkTime
// that now is inside the leaf's validity. An empty key is accepted (a CA kept for trust only).
// The error is a *FieldError naming "chain" or "privateKey".
func Check(chainPEM, keyPEM string, now time.Time, checkTime bool) ([]*x509.Certificate, crypto.Signer, error) {
	chain, err := ParseChain(chainPEM)
	if err != nil {
		return nil, nil, &FieldError{Field: "chain", Err: err}
	}
	if checkTime {
		leaf := chain[0]
		if now.After(leaf.NotAfter) {
			return nil, nil, &FieldError{Field: "chain", Err: fmt.Errorf("%w: expired on %s", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339))}
		}
		if now.Before(leaf.NotBefore) {
			return nil, nil, &FieldError{Field: "chain", Err: fmt.Errorf("%w: valid from %s", ErrExpired, leaf.NotBefore.UTC().Format(time.RFC3339))}
		}
	}
	if strings.TrimSpace(keyPEM) == "" {
		return chain, nil, nil
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, nil, &FieldError{Field: "privateKey", Err: err}
	}
	if !matches(chain[0].PublicKey, key) {
		return nil, nil, &FieldError{Field: "privateKey", Err: ErrKeyMismatch}
	}
	return chain, key, nil
}

// Pair builds the tls.Certificate of a checked chain and key.
func Pair(chain []*x509.Certificate, key crypto.Signer) tls.Certificate {
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}
