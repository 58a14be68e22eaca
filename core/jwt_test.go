package core_test

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/plugin"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/testkit"
)

// publishWithVerifiers publishes routes with the given jwtVerifiers documents.
func publishWithVerifiers(t testing.TB, srv *core.Server, docs []string, routes ...route.Route) {
	t.Helper()
	var raws []json.RawMessage
	for _, d := range docs {
		raws = append(raws, json.RawMessage(d))
	}
	set, err := plugin.NewVerifierSet(raws)
	if err != nil {
		t.Fatal(err)
	}
	table, err := route.Compile(routes, route.CompileOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := core.BuildSnapshot(table, nil, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	snap.JWT = set
	srv.Publish(snap)
}

func hs512(t testing.TB, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJwtVerificationAndSigner: tokens from a header, a query parameter and
// a cookie, HS512 and RS256 through a JWKS fetched off the loop, required
// claims, expiry, strict and non-strict verifiers, the Sign strategy and
// JwtSigner, through the proxy.
func TestJwtVerificationAndSigner(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding
	jwks := testkit.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "use": "sig",
			"n": b64.EncodeToString(rk.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(rk.E)).Bytes())}}})
	}))
	be := startHeaderEchoValues(t)
	srv := startProxy(t, core.Config{})
	verifiers := []string{
		`{"type":"global","id":"hs","name":"hs","strict":true,"source":{"type":"InHeader","name":"Authorization","remove":"Bearer "},
		  "algoSettings":{"type":"HSAlgoSettings","size":512,"secret":"s3cret"},
		  "strategy":{"type":"PassThrough","verificationSettings":{"fields":{"iss":"corp"},"arrayFields":{"roles":"admin"}}}}`,
		`{"type":"global","id":"q","strict":false,"source":{"type":"InQueryParam","name":"jwt"},
		  "algoSettings":{"type":"HSAlgoSettings","size":512,"secret":"s3cret"},"strategy":{"type":"PassThrough","verificationSettings":{}}}`,
		`{"type":"global","id":"ck","source":{"type":"InCookie","name":"tok"},
		  "algoSettings":{"type":"HSAlgoSettings","size":512,"secret":"s3cret"},"strategy":{"type":"PassThrough","verificationSettings":{}}}`,
		`{"type":"global","id":"jwks","source":{"type":"InHeader","name":"X-JWT"},
		  "algoSettings":{"type":"JWKSAlgoSettings","url":"http://` + jwks + `/.well-known/jwks.json","timeout":2000,"ttl":60000},
		  "strategy":{"type":"Sign","verificationSettings":{},"algoSettings":{"type":"HSAlgoSettings","size":256,"secret":"backend"}}}`,
		`{"type":"global","id":"signer","source":{"type":"InHeader","name":"X-Signed"},
		  "algoSettings":{"type":"HSAlgoSettings","size":512,"secret":"signer"},
		  "strategy":{"type":"DefaultToken","strict":true,"token":{"route":"${route.name}","tenant":"acme"}}}`,
	}
	publishWithVerifiers(t, srv, verifiers,
		withPlugins(testRoute("hs.test", be), "JwtVerification", `{"verifiers":["hs"]}`),
		withPlugins(testRoute("q.test", be), "JwtVerification", `{"verifiers":["q"]}`),
		withPlugins(testRoute("ck.test", be), "JwtVerification", `{"verifiers":["ck"]}`),
		withPlugins(testRoute("jwks.test", be), "JwtVerification", `{"verifiers":["jwks"]}`),
		withPlugins(testRoute("missing.test", be), "JwtVerification", `{"verifiers":["nope"]}`),
		withPlugins(testRoute("signer.test", be), "JwtSigner", `{"verifier":"signer","fail_if_present":false}`),
	)
	now := time.Now()
	good := hs512(t, "s3cret", jwt.MapClaims{"iss": "corp", "roles": []string{"user", "admin"}, "exp": now.Add(time.Minute).Unix()})
	f := func(raw string, status int, cause string) string {
		t.Helper()
		c := dial(t, srv)
		resp, body := roundTrip(t, c, bufio.NewReader(c), raw, "GET")
		if resp.StatusCode != status || resp.Header.Get("Otoroshi-Error-Cause") != cause {
			t.Fatalf("%q: %d %q %q, want %d %q", raw, resp.StatusCode, resp.Header.Get("Otoroshi-Error-Cause"), body, status, cause)
		}
		return body
	}
	f("GET / HTTP/1.1\r\nHost: hs.test\r\nAuthorization: Bearer "+good+"\r\n\r\n", 200, "")
	f("GET / HTTP/1.1\r\nHost: hs.test\r\n\r\n", 400, "error.expected.token.not.found")
	f("GET / HTTP/1.1\r\nHost: hs.test\r\nAuthorization: Bearer "+good[:len(good)-3]+"AAA\r\n\r\n", 400, "error.bad.token")
	f("GET / HTTP/1.1\r\nHost: hs.test\r\nAuthorization: Bearer "+hs512(t, "s3cret", jwt.MapClaims{"iss": "other", "roles": []string{"admin"}})+"\r\n\r\n", 400, "error.bad.token")
	f("GET / HTTP/1.1\r\nHost: hs.test\r\nAuthorization: Bearer "+hs512(t, "s3cret", jwt.MapClaims{"iss": "corp", "roles": []string{"user"}})+"\r\n\r\n", 400, "error.bad.token")
	f("GET / HTTP/1.1\r\nHost: hs.test\r\nAuthorization: Bearer "+hs512(t, "s3cret", jwt.MapClaims{"iss": "corp", "roles": []string{"admin"}, "exp": now.Add(-time.Minute).Unix()})+"\r\n\r\n", 400, "error.bad.token")
	f("GET /?jwt="+good+" HTTP/1.1\r\nHost: q.test\r\n\r\n", 200, "")
	f("GET / HTTP/1.1\r\nHost: q.test\r\n\r\n", 200, "") // not strict: no token passes
	f("GET /?jwt=x.y.z HTTP/1.1\r\nHost: q.test\r\n\r\n", 400, "error.bad.token")
	f("GET / HTTP/1.1\r\nHost: ck.test\r\nCookie: a=b; tok="+good+"\r\n\r\n", 200, "")
	f("GET / HTTP/1.1\r\nHost: missing.test\r\n\r\n", 500, "error.missing.globaljwtverifier.id")

	rs := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Minute).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(rk)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	body := f("GET / HTTP/1.1\r\nHost: jwks.test\r\nX-JWT: "+rs("k1")+"\r\n\r\n", 200, "")
	// Sign: the backend gets the claims re-signed with the backend key, in place of the client's.
	sent := headerOf(body, "x-jwt")
	parsed, err := jwt.Parse(sent, func(*jwt.Token) (any, error) { return []byte("backend"), nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || parsed.Claims.(jwt.MapClaims)["sub"] != "alice" || strings.Count(body, "x-jwt:") != 1 {
		t.Errorf("re-signed token %q: %v (backend saw %q)", sent, err, body)
	}
	f("GET / HTTP/1.1\r\nHost: jwks.test\r\nX-JWT: "+rs("unknown")+"\r\n\r\n", 400, "error.bad.token")

	body = f("GET / HTTP/1.1\r\nHost: signer.test\r\nX-Signed: forged\r\n\r\n", 200, "")
	signed := headerOf(body, "x-signed")
	parsed, err = jwt.Parse(signed, func(*jwt.Token) (any, error) { return []byte("signer"), nil }, jwt.WithValidMethods([]string{"HS512"}),
		jwt.WithIssuer("Otoroshi"), jwt.WithAudience("backend"), jwt.WithSubject("anonymous"))
	if err != nil {
		t.Fatalf("JwtSigner token %q: %v", signed, err)
	}
	if c := parsed.Claims.(jwt.MapClaims); c["route"] != "signer.test" || c["tenant"] != "acme" || c["jti"] == nil {
		t.Errorf("JwtSigner claims %v", c)
	}
}

// startHeaderEchoValues runs a backend that answers "name: value" of every
// request field, one a line, lower-case names.
func startHeaderEchoValues(t testing.TB) string {
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		for k, vs := range r.Header {
			for _, v := range vs {
				b.WriteString(strings.ToLower(k) + ": " + v + "\n")
			}
		}
		_, _ = w.Write([]byte(b.String()))
	}))
}

// headerOf returns the value of name in a startHeaderEchoValues body.
func headerOf(body, name string) string {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+": "); ok {
			return v
		}
	}
	return ""
}
