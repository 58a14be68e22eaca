package plugin

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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

// BenchmarkJWT compares this package's JWS code with golang-jwt/v5 (the
// issue's suggestion) on the operations the plugins do per request: verify
// an HS512 token and decode its claims, and sign an HS512 claim.
func BenchmarkJWT(b *testing.B) {
	a, err := NewAlgo(AlgoSettings{Type: "HSAlgoSettings", Size: 512, Secret: "secret"})
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"Otoroshi","sub":"client","aud":"route","exp":4102444800,"iat":1700000000,"jti":"x","state":"abc"}`)
	tok, _ := a.AppendToken(nil, payload)
	key := []byte("secret")
	b.Run("verify/torii", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			p, err := a.Verify(buf, tok)
			if err != nil {
				b.Fatal(err)
			}
			var c struct {
				Exp int64 `json:"exp"`
			}
			if json.Unmarshal(p, &c) != nil {
				b.Fatal("claims")
			}
		}
	})
	b.Run("verify/golang-jwt", func(b *testing.B) {
		b.ReportAllocs()
		s := string(tok)
		for b.Loop() {
			if _, err := jwt.Parse(s, func(*jwt.Token) (any, error) { return key, nil }, jwt.WithValidMethods([]string{"HS512"})); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sign/torii", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 1024)
		for b.Loop() {
			dst, _ = a.AppendToken(dst[:0], payload)
		}
	})
	b.Run("sign/golang-jwt", func(b *testing.B) {
		b.ReportAllocs()
		claims := jwt.MapClaims{"iss": "Otoroshi", "sub": "client", "aud": "route", "exp": 4102444800, "iat": 1700000000, "jti": "x", "state": "abc"}
		for b.Loop() {
			if _, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString(key); err != nil {
				b.Fatal(err)
			}
		}
	})
}
