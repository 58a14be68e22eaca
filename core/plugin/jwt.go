package plugin

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"sync"
)

// AlgoSettings is Otoroshi's signing settings object (models.AlgoSettings):
//
//	{"type":"HSAlgoSettings","size":512,"secret":"secret","base64":false}
//	{"type":"RSAlgoSettings","size":256,"publicKey":"<PEM>","privateKey":"<PEM>"}
//	{"type":"ESAlgoSettings","size":256,"publicKey":"<PEM>","privateKey":"<PEM>"}
type AlgoSettings struct {
	Type       string `json:"type"`
	Size       int    `json:"size"`
	Secret     string `json:"secret"`
	Base64     bool   `json:"base64"`
	PublicKey  string `json:"publicKey"`
	PrivateKey string `json:"privateKey"`
}

// DefaultAlgo is Otoroshi's default for the exchange protocol: HS512 with
// the secret "secret".
var DefaultAlgo = AlgoSettings{Type: "HSAlgoSettings", Size: 512, Secret: "secret"}

// Algo signs and verifies compact JWS tokens with one key. Safe for
// concurrent use; HMAC states are pooled so that signing allocates nothing
// but the caller's buffer growth.
type Algo struct {
	name   string // JWS alg: HS256 ... ES512
	header string // base64url of {"typ":"JWT","alg":name}
	hs     []byte
	hash   crypto.Hash
	newH   func() hash.Hash
	pool   sync.Pool // *hmacState
	rsaPub *rsa.PublicKey
	rsaKey *rsa.PrivateKey
	ecPub  *ecdsa.PublicKey
	ecKey  *ecdsa.PrivateKey
	pss    bool
}

type hmacState struct {
	h   hash.Hash
	sum []byte
}

// Name returns the JWS algorithm name.
func (a *Algo) Name() string { return a.name }

// NewAlgo compiles s. The error names the field at fault, relative to s.
func NewAlgo(s AlgoSettings) (*Algo, error) {
	a := &Algo{}
	switch s.Size {
	case 256:
		a.hash, a.newH = crypto.SHA256, sha256.New
	case 384:
		a.hash, a.newH = crypto.SHA384, sha512.New384
	case 512:
		a.hash, a.newH = crypto.SHA512, sha512.New
	default:
		return nil, fmt.Errorf("size: must be 256, 384 or 512, got %d", s.Size)
	}
	size := fmt.Sprint(s.Size)
	switch s.Type {
	case "HSAlgoSettings", "":
		secret := s.Secret
		if strings.Contains(secret, "${") {
			e, err := CompileExpr(secret)
			if err != nil {
				return nil, fmt.Errorf("secret: %w", err)
			}
			lit, ok := e.Static()
			if !ok {
				if len(e.segs) != 1 || e.segs[0].kind != exLiteral {
					return nil, fmt.Errorf("secret: only ${env.*} and ${config.*} expressions are allowed in a secret")
				}
				lit = e.segs[0].lit
			}
			secret = lit
		}
		if secret == "" {
			return nil, fmt.Errorf("secret: must not be empty")
		}
		a.hs = []byte(secret)
		if s.Base64 {
			b, err := base64.StdEncoding.DecodeString(secret)
			if err != nil {
				return nil, fmt.Errorf("secret: base64 is set but the secret is not base64: %v", err)
			}
			a.hs = b
		}
		a.name = "HS" + size
		a.pool.New = func() any { return &hmacState{h: hmac.New(a.newH, a.hs)} }
	case "RSAlgoSettings", "RSAPSSAlgoSettings":
		a.name = "RS" + size
		if s.Type == "RSAPSSAlgoSettings" {
			a.name, a.pss = "PS"+size, true
		}
		if s.PublicKey == "" && s.PrivateKey == "" {
			return nil, fmt.Errorf("publicKey: an RSA algorithm needs publicKey or privateKey")
		}
		if s.PublicKey != "" {
			pub, err := parsePublicKey(s.PublicKey)
			if err != nil {
				return nil, fmt.Errorf("publicKey: %v", err)
			}
			k, ok := pub.(*rsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("publicKey: not an RSA key")
			}
			a.rsaPub = k
		}
		if s.PrivateKey != "" {
			priv, err := parsePrivateKey(s.PrivateKey)
			if err != nil {
				return nil, fmt.Errorf("privateKey: %v", err)
			}
			k, ok := priv.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("privateKey: not an RSA key")
			}
			a.rsaKey = k
			if a.rsaPub == nil {
				a.rsaPub = &k.PublicKey
			}
		}
	case "ESAlgoSettings":
		a.name = "ES" + size
		if s.PublicKey == "" && s.PrivateKey == "" {
			return nil, fmt.Errorf("publicKey: an ES algorithm needs publicKey or privateKey")
		}
		if s.PublicKey != "" {
			pub, err := parsePublicKey(s.PublicKey)
			if err != nil {
				return nil, fmt.Errorf("publicKey: %v", err)
			}
			k, ok := pub.(*ecdsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("publicKey: not an EC key")
			}
			a.ecPub = k
		}
		if s.PrivateKey != "" {
			priv, err := parsePrivateKey(s.PrivateKey)
			if err != nil {
				return nil, fmt.Errorf("privateKey: %v", err)
			}
			k, ok := priv.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("privateKey: not an EC key")
			}
			a.ecKey = k
			if a.ecPub == nil {
				a.ecPub = &k.PublicKey
			}
		}
	default:
		return nil, fmt.Errorf("type: %q is not supported (HSAlgoSettings, RSAlgoSettings, RSAPSSAlgoSettings, ESAlgoSettings)", s.Type)
	}
	h, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": a.name})
	// json.Marshal sorts keys: {"alg":..,"typ":"JWT"}; any order is valid JOSE.
	a.header = base64.RawURLEncoding.EncodeToString(h)
	return a, nil
}

// canSign reports whether a holds a signing key.
func (a *Algo) canSign() bool { return a.hs != nil || a.rsaKey != nil || a.ecKey != nil }

func pemBlock(s string, kind string) []byte {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "-----") {
		s = "-----BEGIN " + kind + "-----\n" + s + "\n-----END " + kind + "-----\n"
	}
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil
	}
	return b.Bytes
}

func parsePublicKey(s string) (any, error) {
	der := pemBlock(s, "PUBLIC KEY")
	if der == nil {
		return nil, fmt.Errorf("not a PEM public key")
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	if c, err := x509.ParseCertificate(der); err == nil {
		return c.PublicKey, nil
	}
	return nil, fmt.Errorf("cannot parse the public key")
}

func parsePrivateKey(s string) (any, error) {
	der := pemBlock(s, "PRIVATE KEY")
	if der == nil {
		return nil, fmt.Errorf("not a PEM private key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("cannot parse the private key")
}

// AppendToken appends to dst the compact JWS of payload (a JSON object):
// header.payload.signature. Safe for concurrent use. With HS algorithms it
// allocates nothing beyond dst's growth.
func (a *Algo) AppendToken(dst, payload []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, a.header...)
	dst = append(dst, '.')
	dst = base64.RawURLEncoding.AppendEncode(dst, payload)
	signing := dst[start:]
	switch {
	case a.hs != nil:
		st := a.pool.Get().(*hmacState)
		st.h.Reset()
		st.h.Write(signing)
		st.sum = st.h.Sum(st.sum[:0])
		dst = append(dst, '.')
		dst = base64.RawURLEncoding.AppendEncode(dst, st.sum)
		a.pool.Put(st)
		return dst, nil
	case a.rsaKey != nil:
		d := digest(a.hash, signing)
		var sig []byte
		var err error
		if a.pss {
			sig, err = rsa.SignPSS(rand.Reader, a.rsaKey, a.hash, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(nil, a.rsaKey, a.hash, d)
		}
		if err != nil {
			return dst[:start], fmt.Errorf("cannot sign with %s: %w", a.name, err)
		}
		dst = append(dst, '.')
		return base64.RawURLEncoding.AppendEncode(dst, sig), nil
	case a.ecKey != nil:
		d := digest(a.hash, signing)
		r, s, err := ecdsa.Sign(rand.Reader, a.ecKey, d)
		if err != nil {
			return dst[:start], fmt.Errorf("cannot sign with %s: %w", a.name, err)
		}
		n := (a.ecKey.Curve.Params().BitSize + 7) / 8
		sig := make([]byte, 2*n)
		r.FillBytes(sig[:n])
		s.FillBytes(sig[n:])
		dst = append(dst, '.')
		return base64.RawURLEncoding.AppendEncode(dst, sig), nil
	}
	return dst[:start], fmt.Errorf("cannot sign with %s: no private key", a.name)
}

func digest(h crypto.Hash, b []byte) []byte {
	d := h.New()
	d.Write(b)
	return d.Sum(nil)
}

// hashOf returns the hash of a JWS algorithm name's size (RS256 → SHA-256).
func hashOf(alg string) (crypto.Hash, bool) {
	if len(alg) != 5 {
		return 0, false
	}
	switch alg[2:] {
	case "256":
		return crypto.SHA256, true
	case "384":
		return crypto.SHA384, true
	case "512":
		return crypto.SHA512, true
	}
	return 0, false
}

// verifyPublic checks an RS, PS or ES signature of signing with key, for
// the JWS algorithm alg.
func verifyPublic(alg string, key any, signing, sig []byte) bool {
	h, ok := hashOf(alg)
	if !ok {
		return false
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch alg[:2] {
		case "RS":
			return rsa.VerifyPKCS1v15(k, h, digest(h, signing), sig) == nil
		case "PS":
			return rsa.VerifyPSS(k, h, digest(h, signing), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
		}
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		if alg[:2] != "ES" || len(sig) != 2*n {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(k, digest(h, signing), r, s)
	}
	return false
}

// Verify checks token's signature with a and returns its decoded payload
// appended to dst[:0]. The header's alg must be a's. It allocates for the
// asymmetric algorithms only.
func (a *Algo) Verify(dst, token []byte) ([]byte, error) {
	i := bytes.IndexByte(token, '.')
	j := bytes.LastIndexByte(token, '.')
	if i <= 0 || j <= i {
		return dst[:0], fmt.Errorf("%w: not a compact JWS", ErrToken)
	}
	hdr := token[:i]
	if string(hdr) != a.header {
		// Another encoding of the same header is fine as long as alg matches.
		var h struct {
			Alg string `json:"alg"`
		}
		raw, err := base64.RawURLEncoding.AppendDecode(dst[:0], hdr)
		if err != nil || json.Unmarshal(raw, &h) != nil {
			return dst[:0], fmt.Errorf("%w: bad header", ErrToken)
		}
		if h.Alg != a.name {
			return dst[:0], fmt.Errorf("%w: alg %q, want %s", ErrToken, h.Alg, a.name)
		}
	}
	signing := token[:j]
	sig, err := base64.RawURLEncoding.AppendDecode(dst[:0], token[j+1:])
	if err != nil {
		return dst[:0], fmt.Errorf("%w: bad signature encoding", ErrToken)
	}
	ok := false
	if a.hs != nil {
		st := a.pool.Get().(*hmacState)
		st.h.Reset()
		st.h.Write(signing)
		st.sum = st.h.Sum(st.sum[:0])
		ok = subtle.ConstantTimeCompare(st.sum, sig) == 1
		a.pool.Put(st)
	} else if a.rsaPub != nil {
		ok = verifyPublic(a.name, a.rsaPub, signing, sig)
	} else if a.ecPub != nil {
		ok = verifyPublic(a.name, a.ecPub, signing, sig)
	}
	if !ok {
		return dst[:0], fmt.Errorf("%w: bad signature", ErrToken)
	}
	return base64.RawURLEncoding.AppendDecode(dst[:0], token[i+1:j])
}
