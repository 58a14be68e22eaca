package admin

import (
	"crypto/sha256"
	"net/http"
	"testing"
)

// BenchmarkAdminKeyCheck is the per-request cost of the admin key check: the salted HMAC and the
// failure table's lookups, against one bare SHA-256 of the secret as the baseline (the least any
// hash-based check costs).
func BenchmarkAdminKeyCheck(b *testing.B) {
	key := &adminKey{ClientID: testClientID, salt: []byte("0123456789abcdef0123456789abcdef")}
	key.hash = hashSecret(key.salt, testSecret)
	s := &Server{key: key}
	r, _ := http.NewRequest("GET", "http://127.0.0.1/api/routes", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	b.Run("sha256-baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sha256.Sum256([]byte(testSecret))
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !key.verify(testClientID, testSecret) {
				b.Fatal("the right key refused")
			}
		}
	})
	b.Run("verifyKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.verifyKey(r, testClientID, testSecret); err != nil {
				b.Fatal(err)
			}
		}
	})
}
