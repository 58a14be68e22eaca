package apikey

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"testing"
)

// TestHMACMatchesStdlib compares the scratch HMAC with crypto/hmac for every
// key length around the block sizes, for the three JWT algorithms.
func TestHMACMatchesStdlib(t *testing.T) {
	sc := NewScratch()
	algs := []struct {
		name  string
		std   func() hash.Hash
		h     hash.Hash
		block int
	}{
		{"HS256", sha256.New, sc.sha256, 64},
		{"HS384", sha512.New384, sc.sha384, 128},
		{"HS512", sha512.New, sc.sha512, 128},
	}
	msg := []byte("eyJhbGciOiJIUzI1NiJ9.eyJjbGllbnRJZCI6ImEifQ")
	for _, a := range algs {
		for n := 0; n <= 200; n++ {
			key := bytes.Repeat([]byte{byte(n), 'k'}, n)[:n]
			m := hmac.New(a.std, key)
			m.Write(msg)
			want := m.Sum(nil)
			if got := sc.hmacSum(a.h, a.block, key, msg); !bytes.Equal(got, want) {
				t.Fatalf("%s with a %d-byte key: %x, want %x", a.name, n, got, want)
			}
		}
	}
}

func TestUnescapePath(t *testing.T) {
	sc := NewScratch()
	f := func(in, want string, wantOK bool) {
		t.Helper()
		got, ok := sc.unescapePath([]byte(in))
		if ok != wantOK || (ok && string(got) != want) {
			t.Fatalf("unescapePath(%q) = %q, %v; want %q, %v", in, got, ok, want, wantOK)
		}
	}
	f("/a%2Fb", "/a/b", true)
	f("/%41%62c", "/Abc", true)
	f("/x%", "", false)
	f("/x%4", "", false)
	f("/x%4g", "", false)
	f("/plain", "/plain", true)
}
