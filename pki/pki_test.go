package pki

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	ca, err := Mint(MintOptions{CommonName: "ca", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := Mint(MintOptions{CommonName: "a", Hosts: []string{"a.test", "127.0.0.1"}, Issuer: ca})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := Mint(MintOptions{CommonName: "b", Issuer: ca})
	old, _ := Mint(MintOptions{CommonName: "old", Issuer: ca, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	now := time.Now()
	f := func(chain, key string, checkTime bool, field string, want error) {
		t.Helper()
		_, _, err := Check(chain, key, now, checkTime)
		var fe *FieldError
		if field == "" {
			if err != nil {
				t.Fatalf("unexpected %v", err)
			}
			return
		}
		if !errors.As(err, &fe) || fe.Field != field || (want != nil && !errors.Is(err, want)) {
			t.Fatalf("got %v, want field %s (%v)", err, field, want)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY-----\nM") {
			t.Fatal("error quotes the key")
		}
	}
	f(leaf.ChainPEM, leaf.KeyPEM, true, "", nil)
	f(leaf.ChainPEM, "", true, "", nil)
	f("not a pem", leaf.KeyPEM, true, "chain", ErrNoPEM)
	f("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", leaf.KeyPEM, true, "chain", nil)
	f(leaf.ChainPEM, "garbage", true, "privateKey", ErrNoPEM)
	f(leaf.ChainPEM, other.KeyPEM, true, "privateKey", ErrKeyMismatch)
	f(old.ChainPEM, old.KeyPEM, true, "chain", ErrExpired)
	f(old.ChainPEM, old.KeyPEM, false, "", nil)

	chain, _ := ParseChain(leaf.ChainPEM)
	in := Describe(chain)
	if in.Subject != "CN=a,O=Torii" || len(in.SANs) != 2 || in.CA || in.SelfSigned || len(in.Fingerprint) != 64 {
		t.Fatalf("%+v", in)
	}
	cchain, _ := ParseChain(ca.ChainPEM)
	if in := Describe(cchain); !in.CA || !in.SelfSigned {
		t.Fatalf("ca: %+v", in)
	}
}
