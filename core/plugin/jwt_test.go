package plugin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func pemOf(t *testing.T, kind string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
}

// TestAlgoAgainstGolangJWT signs with every supported family and checks
// the tokens with golang-jwt, then verifies golang-jwt's tokens.
func TestAlgoAgainstGolangJWT(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rpriv, _ := x509.MarshalPKCS8PrivateKey(rk)
	rpub, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	epriv, _ := x509.MarshalPKCS8PrivateKey(ek)
	epub, _ := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	for _, tc := range []struct {
		s      AlgoSettings
		method jwt.SigningMethod
		key    any // golang-jwt verification key
		sign   any // golang-jwt signing key
	}{
		{AlgoSettings{Type: "HSAlgoSettings", Size: 256, Secret: "k"}, jwt.SigningMethodHS256, []byte("k"), []byte("k")},
		{AlgoSettings{Type: "HSAlgoSettings", Size: 512, Secret: "k"}, jwt.SigningMethodHS512, []byte("k"), []byte("k")},
		{AlgoSettings{Type: "RSAlgoSettings", Size: 256, PrivateKey: pemOf(t, "PRIVATE KEY", rpriv), PublicKey: pemOf(t, "PUBLIC KEY", rpub)}, jwt.SigningMethodRS256, &rk.PublicKey, rk},
		{AlgoSettings{Type: "RSAPSSAlgoSettings", Size: 384, PrivateKey: pemOf(t, "PRIVATE KEY", rpriv)}, jwt.SigningMethodPS384, &rk.PublicKey, rk},
		{AlgoSettings{Type: "ESAlgoSettings", Size: 256, PrivateKey: pemOf(t, "PRIVATE KEY", epriv), PublicKey: pemOf(t, "PUBLIC KEY", epub)}, jwt.SigningMethodES256, &ek.PublicKey, ek},
	} {
		a, err := NewAlgo(tc.s)
		if err != nil {
			t.Fatalf("%s: %v", tc.method.Alg(), err)
		}
		tok, err := a.AppendToken(nil, []byte(`{"a":"b"}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jwt.Parse(string(tok), func(*jwt.Token) (any, error) { return tc.key, nil },
			jwt.WithValidMethods([]string{tc.method.Alg()})); err != nil {
			t.Errorf("%s: golang-jwt refuses our token: %v", tc.method.Alg(), err)
		}
		theirs, err := jwt.NewWithClaims(tc.method, jwt.MapClaims{"x": "y"}).SignedString(tc.sign)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := a.Verify(nil, []byte(theirs)); err != nil || string(p) != `{"x":"y"}` {
			t.Errorf("%s: we refuse golang-jwt's token: %v %s", tc.method.Alg(), err, p)
		}
		if _, err := a.Verify(nil, append([]byte(theirs[:len(theirs)-4]), "AAAA"...)); err == nil {
			t.Errorf("%s: a tampered token was accepted", tc.method.Alg())
		}
	}
	for _, bad := range []AlgoSettings{{Type: "HSAlgoSettings", Size: 512}, {Type: "XAlgo", Size: 256}, {Type: "RSAlgoSettings", Size: 256, PublicKey: "zz"}} {
		if _, err := NewAlgo(bad); err == nil {
			t.Errorf("NewAlgo(%+v) accepted", bad)
		}
	}
}
