//go:build !race

package core_test

import (
	"encoding/base64"
	"net/netip"
	"testing"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/quota"
)

// A proxied GET that passes the global steps (IP lists, gateway and
// per-address throttling) and presents an API key (each of the common
// methods), checked and counted, allocates nothing in steady state.
func TestProxyAPIKeyZeroAllocs(t *testing.T) {
	be := startFixedBackend(t)
	q := quota.New(quota.Options{})
	srv := startProxy(t, core.Config{Loops: 1, Quotas: q})
	idOnly := testKey("idonly", "idonly-secret")
	idOnly.AllowClientIDOnly = true
	// Every global step on, none refusing.
	g := &core.Global{
		IPAllow:         []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		IPBlock:         []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		ThrottlingQuota: 1_000_000, PerIPThrottlingQuota: 1_000_000,
	}
	publishKeys(t, srv, q, 2, []apikey.ApiKey{testKey("abc", "s3cr3t"), idOnly}, g, keyRoute("bench.test", "", "", be))
	f := func(name, header string) {
		t.Helper()
		bc := newBenchClientFor(t, srv.Addr().String(), "GET /hello HTTP/1.1\r\nHost: bench.test\r\n"+header+"\r\n\r\n")
		for range 2000 {
			bc.do(t)
		}
		if n := testing.AllocsPerRun(3000, func() { bc.do(t) }); n != 0 {
			t.Errorf("%s: %v allocations per proxied request, want 0", name, n)
		}
	}
	f("bearer", "Authorization: Bearer "+apikey.BearerToken("abc", "s3cr3t"))
	f("client id and secret", "Otoroshi-Client-Id: abc\r\nOtoroshi-Client-Secret: s3cr3t")
	f("client id alone", "X-Api-Key: idonly")
	f("basic", "Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("abc:s3cr3t")))
	f("jwt", "Authorization: Bearer "+hs256("s3cr3t", `{"clientId":"abc","exp":4102444800}`))
}
