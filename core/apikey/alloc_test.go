//go:build !race

package apikey

import (
	"testing"

	"github.com/torii-gateway/torii/core/quota"
)

// TestCheckDoesNotAllocate runs Check for every method, with quotas, and for
// path patterns of every kind, and requires zero allocations per call once
// the key's quota entry exists and the scratch buffer has grown.
func TestCheckDoesNotAllocate(t *testing.T) {
	s := testKeys(t)
	p := mustPolicy(t, "", `{"public_patterns":["/public/.*","/exact","/v[0-9]+/docs"],"private_patterns":["/public/secret"]}`)
	sc := NewScratch()
	q := quota.New(quota.Options{})
	groups := []string{"default"}
	cases := []struct {
		name    string
		line    string
		headers []string
	}{
		{"bearer", "GET /x HTTP/1.1", []string{"Otoroshi-Token: " + BearerToken("keyA", secretA)}},
		{"client id", "GET /x HTTP/1.1", []string{"x-api-key: keyB"}},
		{"custom headers", "GET /x HTTP/1.1", []string{"Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: " + secretA}},
		{"jwt HS256", "GET /x HTTP/1.1", []string{"Authorization: Bearer " + signJWT("HS256", secretA, `{"clientId":"keyA","exp":9999999999}`)}},
		{"jwt HS512 long secret", "GET /x HTTP/1.1", []string{"Authorization: Bearer " + signJWT("HS512", longSecret, `{"cid":"long"}`)}},
		{"basic", "GET /x HTTP/1.1", []string{"Authorization: Basic " + basic("keyA", secretA)}},
		{"bad secret", "GET /x HTTP/1.1", []string{"Authorization: Basic " + basic("keyA", "nope")}},
		{"no key, regexp public path", "GET /v1/docs HTTP/1.1", nil},
		{"no key, escaped private path", "GET /public/%73ecret HTTP/1.1", nil},
	}
	for _, c := range cases {
		req, buf := parse(t, c.line, c.headers...)
		p.Check(s, q, sc, req, buf, "r", groups, testNow) // warm up: quota entry, pools
		if n := testing.AllocsPerRun(200, func() {
			p.Check(s, q, sc, req, buf, "r", groups, testNow)
		}); n != 0 {
			t.Errorf("%s: %v allocs per Check, want 0", c.name, n)
		}
	}
}
