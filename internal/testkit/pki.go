package testkit

import (
	"testing"

	"github.com/torii-gateway/torii/pki"
)

// Mint makes a certificate with pki.Mint, failing the test on error.
func Mint(t testing.TB, o pki.MintOptions) *pki.Minted {
	t.Helper()
	m, err := pki.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
