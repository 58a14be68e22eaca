package plugin

import (
	"net/netip"
	"testing"
	"time"
)

// notFiringChain is a route with the access and header plugins configured
// and a request that passes them all (Redirection always fires, so it is
// not in it).
func notFiringChain(t testing.TB) *Chain {
	return mustChain(t,
		"Cors", `{"allow_origin":"*","allow_methods":["GET"],"excluded_patterns":["/.*"]}`,
		"IpAddressBlockList", `{"addresses":["192.168.0.0/16","172.16.0.0/12"]}`,
		"IpAddressAllowedList", `{"addresses":["10.0.0.0/8"]}`,
		"ReadOnlyCalls", `{}`,
		"AllowHttpMethods", `{"allowed":["GET","HEAD"]}`,
		"DisableHttp10", `{}`,
		"HeadersValidation", `{"headers":{"X-A":"1"}}`,
		"RemoveHeadersIn", `{"header_names":["X-Secret"]}`,
		"RemoveHeadersOut", `{"header_names":["X-Powered-By"]}`,
		"MissingHeadersIn", `{"headers":{"X-A":"2"}}`,
	)
}

func benchCtx(b *testing.B) *Ctx {
	x := parseReq(b, "GET /api HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nAccept: */*\r\nUser-Agent: bench\r\n\r\n")
	x.Remote = netip.MustParseAddr("10.0.0.1")
	x.Key = testKey()
	x.Now = time.Now()
	return x
}

// BenchmarkNotFiring runs every hook of notFiringChain for one request, as
// the engine does: Access, DropRequest per field, AppendRequest,
// DropResponse per field, AppendResponse. Baseline: BenchmarkNilChain.
func BenchmarkNotFiring(b *testing.B) { benchHooks(b, notFiringChain(b)) }

// BenchmarkNilChain is the baseline: a route without these plugins.
func BenchmarkNilChain(b *testing.B) { benchHooks(b, nil) }

func benchHooks(b *testing.B, c *Chain) {
	x := benchCtx(b)
	names := [][]byte{[]byte("host"), []byte("x-a"), []byte("accept"), []byte("user-agent")}
	dst := make([]byte, 0, 4096)
	var xs Exchange
	b.ReportAllocs()
	for b.Loop() {
		c.Access(x, &xs)
		for _, n := range names {
			c.DropRequest(n, &xs)
		}
		dst = c.AppendRequest(dst[:0], x, &xs)
		for _, n := range names {
			c.DropResponse(n, &xs)
		}
		dst = c.AppendResponse(dst[:0], x, &xs, nil, nil)
	}
}

// BenchmarkFiring measures each plugin when it does its work.
func BenchmarkFiring(b *testing.B) {
	for _, tc := range []struct{ name, plugin, cfg string }{
		{"AdditionalHeadersIn", "AdditionalHeadersIn", `{"headers":{"X-Req":"${req.id}","X-Key":"${apikey.clientId}","X-Static":"v"}}`},
		{"AdditionalHeadersOut", "AdditionalHeadersOut", `{"headers":{"X-Date":"${date}"}}`},
		{"Cors", "Cors", `{"allow_methods":["GET","POST"],"allow_headers":["x-a"],"max_age":60}`},
		{"IpAddressBlockList", "IpAddressBlockList", `{"addresses":["10.0.0.0/8"]}`},
		{"Redirection", "Redirection", `{"to":"https://x${req.uri}"}`},
		{"HeadersValidation", "HeadersValidation", `{"headers":{"X-A":"Regex([0-9]+)"}}`},
		{"OtoroshiInfosLatest", "OtoroshiInfos", `{"version":"Latest"}`},
		{"OtoroshiInfosLegacy", "OtoroshiInfos", `{"version":"Legacy"}`},
		{"OtoroshiChallengeV1", "OtoroshiChallenge", `{"version":"V1"}`},
		{"OtoroshiChallengeV2", "OtoroshiChallenge", `{"version":"V2"}`},
	} {
		b.Run(tc.name, func(b *testing.B) { benchHooks(b, mustChain(b, tc.plugin, tc.cfg)) })
	}
}

// BenchmarkChallengeCheckV2 verifies a backend's V2 answer (HS512 and the
// claims).
func BenchmarkChallengeCheckV2(b *testing.B) {
	c := mustChain(b, "OtoroshiChallenge", `{"version":"V2"}`)
	x := benchCtx(b)
	var xs Exchange
	c.AppendRequest(nil, x, &xs)
	a, _ := NewAlgo(DefaultAlgo)
	now := x.Now.Unix()
	tok, _ := a.AppendToken(nil, []byte(`{"aud":"Otoroshi","state-resp":"`+string(xs.state[:])+`","iat":`+itoa(now)+`,"exp":`+itoa(now+10)+`}`))
	buf := []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nOtoroshi-State-Resp: " + string(tok) + "\r\n\r\n")
	resp, _ := parseResp(b, buf)
	b.ReportAllocs()
	for b.Loop() {
		if !c.CheckResponse(resp, buf, x, &xs) {
			b.Fatal("refused")
		}
	}
}
