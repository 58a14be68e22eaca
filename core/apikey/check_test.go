package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/httpparse"
)

var testNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

const (
	secretA = "qpg5Rl9TENtBAycCTCk6qnLaGAhTdsNM2x9UvInH5j1SCoV112WtsN6j45wa93Mu"
	secretB = "secret-b"
	// longSecret is longer than every HMAC block, so it is hashed first.
	longSecret = "L0ng-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" +
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" +
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// testKeys builds a set with one key per situation the tests need.
func testKeys(t testing.TB) *Set {
	t.Helper()
	s, err := Compile(testKeyList())
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func testKeyList() []ApiKey {
	mk := func(id, secret string, edit func(k *ApiKey)) ApiKey {
		k := Defaults()
		k.ClientID, k.ClientSecret, k.ClientName = id, secret, id+"-name"
		k.AuthorizedEntities = []string{"group_default"}
		if edit != nil {
			edit(&k)
		}
		return k
	}
	past := testNow.Add(-time.Hour).UnixMilli()
	next := "next-secret"
	keys := []ApiKey{
		mk("keyA", secretA, nil),
		mk("keyB", secretB, func(k *ApiKey) { k.AllowClientIDOnly = true }),
		mk("long", longSecret, nil),
		mk("disabled", "s1", func(k *ApiKey) { k.Enabled = false }),
		mk("expired", "s2", func(k *ApiKey) { k.ValidUntil = &past }),
		mk("readonly", "s3", func(k *ApiKey) { k.ReadOnly = true }),
		mk("routeonly", "s4", func(k *ApiKey) { k.AuthorizedEntities = []string{"route_route_1"} }),
		mk("baregroup", "s5", func(k *ApiKey) { k.AuthorizedEntities = []string{"default"} }),
		mk("othergroup", "s6", func(k *ApiKey) { k.AuthorizedEntities = []string{"group_other"} }),
		mk("rotating", "old-secret", func(k *ApiKey) { k.Rotation.Enabled, k.Rotation.NextSecret = true, &next }),
		mk("notrotating", "old-secret", func(k *ApiKey) { k.Rotation.NextSecret = &next }),
		mk("limited", "s7", func(k *ApiKey) { k.ThrottlingQuota, k.DailyQuota = 2, 100 }),
	}
	return keys
}

// parse parses a request head built from a request line and header lines.
func parse(t testing.TB, line string, headers ...string) (*httpparse.Request, []byte) {
	t.Helper()
	raw := line + "\r\nHost: api.example.com\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	buf := []byte(raw + "\r\n")
	req := &httpparse.Request{Headers: make([]httpparse.Header, 0, 32)}
	if _, err := httpparse.ParseRequest(buf, req, nil); err != nil {
		t.Fatalf("ParseRequest(%q): %v", raw, err)
	}
	return req, buf
}

func mustPolicy(t testing.TB, calls, paths string) *Policy {
	t.Helper()
	p, err := ParsePolicy(json.RawMessage(calls), json.RawMessage(paths))
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	return p
}

func basic(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))
}

// signJWT builds a compact JWS with crypto/hmac, independently of the code under test.
func signJWT(alg, secret string, claims string) string {
	var h func() hash.Hash
	switch alg {
	case "HS256":
		h = sha256.New
	case "HS384":
		h = sha512.New384
	default:
		h = sha512.New
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	m := hmac.New(h, []byte(secret))
	m.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(m.Sum(nil))
}

func unsignedJWT(header, claims, sig string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims)) + "." + sig
}

func TestCheckMethods(t *testing.T) {
	s := testKeys(t)
	p := mustPolicy(t, "", "")
	sc := NewScratch()
	exp := testNow.Unix()
	f := func(name string, wantKey string, wantMethod Method, wantRej *Rejection, headers ...string) {
		t.Helper()
		req, buf := parse(t, "GET /api/users HTTP/1.1", headers...)
		res, rej := p.Check(s, nil, sc, req, buf, "route_1", []string{"default"}, testNow)
		if rej != wantRej {
			t.Fatalf("%s: rejection %v, want %v", name, rej, wantRej)
		}
		if rej != nil {
			return
		}
		if res.Key == nil || res.Key.ClientID != wantKey || res.Method != wantMethod {
			t.Fatalf("%s: key %v method %v, want %s %v", name, res.Key, res.Method, wantKey, wantMethod)
		}
	}
	bearerA := BearerToken("keyA", secretA)
	f("no credentials", "", MethodNone, ErrNoKey)
	f("unrelated Authorization", "", MethodNone, ErrNoKey, "Authorization: Negotiate abc")
	f("bearer not a token", "", MethodNone, ErrNoKey, "Authorization: Bearer opaque-token")

	// 1. Otoroshi bearer.
	f("bearer in Otoroshi-Token", "keyA", MethodBearer, nil, "Otoroshi-Token: "+bearerA)
	f("bearer in Otoroshi-Token with scheme", "keyA", MethodBearer, nil, "Otoroshi-Token: Bearer "+bearerA)
	f("bearer in Authorization", "keyA", MethodBearer, nil, "Authorization: Bearer "+bearerA)
	f("bearer scheme is case-insensitive", "keyA", MethodBearer, nil, "authorization: bEARER "+bearerA)
	f("bearer, wrong hmac", "", MethodNone, ErrInvalidKey, // apikey.scala:1595 findAuthorizeKeyForBearer finds none
		"Authorization: Bearer "+bearerA[:len(bearerA)-1]+"0")
	f("bearer of another secret", "", MethodNone, ErrInvalidKey, // apikey.scala:1595
		"Authorization: Bearer "+BearerToken("keyA", secretB))
	f("bearer, unknown id", "", MethodNone, ErrInvalidKey, // apikey.scala:1595
		"Otoroshi-Token: "+BearerToken("nobody", secretA))
	f("bearer without hmac", "", MethodNone, ErrInvalidKey, // apikey.scala:1595
		"Otoroshi-Token: otoapk_keyA_")
	f("bearer without id", "", MethodNone, ErrInvalidKey, // apikey.scala:1595
		"Otoroshi-Token: otoapk_abcdef")

	// 2. Client id alone.
	f("x-api-key", "keyB", MethodClientID, nil, "X-Api-Key: keyB")
	f("x-api-key without allowClientIdOnly", "", MethodNone, ErrClientIDOnly, // apikey.scala:1512: 400
		"x-api-key: keyA")
	f("x-api-key unknown", "", MethodNone, ErrInvalidKey, // apikey.scala:1550
		"x-api-key: nobody")

	// 3. Client id and secret headers.
	f("custom headers", "keyA", MethodCustomHeaders, nil, "Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: "+secretA)
	f("custom headers, bad secret", "", MethodNone, ErrBadKey, // apikey.scala:1559
		"Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: "+secretB)
	f("custom headers, secret prefix", "", MethodNone, ErrBadKey, // apikey.scala:1559
		"Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: "+secretA[:10])
	f("custom headers, unknown id", "", MethodNone, ErrInvalidKey, // apikey.scala:1587
		"Otoroshi-Client-Id: nobody", "Otoroshi-Client-Secret: x")
	f("custom headers, no secret", "", MethodNone, ErrNoKey, // apikey.scala:1842: a lone half is no credentials
		"Otoroshi-Client-Id: keyA")
	f("custom headers, no id", "", MethodNone, ErrNoKey, // apikey.scala:1842
		"Otoroshi-Client-Secret: "+secretA)
	f("custom headers, empty secret", "", MethodNone, ErrNoKey, // apikey.scala:1842
		"Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret:")
	f("lone client id header, then Basic", "keyB", MethodBasic, nil, "Otoroshi-Client-Id: keyA", "Authorization: Basic "+basic("keyB", secretB))

	// 4. JWT.
	claims := func(extra string) string { return `{"iss":"someone","clientId":"keyA"` + extra + `}` }
	f("JWT HS256 in Authorization", "keyA", MethodJWT, nil, "Authorization: Bearer "+signJWT("HS256", secretA, claims("")))
	f("JWT HS384 in Otoroshi-Token", "keyA", MethodJWT, nil, "Otoroshi-Token: "+signJWT("HS384", secretA, claims("")))
	f("JWT HS512", "keyA", MethodJWT, nil, "Authorization: Bearer "+signJWT("HS512", secretA, claims("")))
	f("JWT long secret HS256", "long", MethodJWT, nil, "Authorization: Bearer "+signJWT("HS256", longSecret, `{"cid":"long"}`))
	f("JWT long secret HS512", "long", MethodJWT, nil, "Authorization: Bearer "+signJWT("HS512", longSecret, `{"client_id":"long"}`))
	f("JWT id in iss", "keyA", MethodJWT, nil, "Authorization: Bearer "+signJWT("HS256", secretA, `{"iss":"keyA","sub":"x"}`))
	f("JWT clientId before iss", "keyA", MethodJWT, nil, "Authorization: Bearer "+signJWT("HS256", secretA, `{"iss":"keyB","clientId":"keyA"}`))
	f("JWT escaped id", "keyA", MethodJWT, nil, "Authorization: Bearer "+signJWT("HS256", secretA, `{"clientId":"key\u0041","n":{"a":[1,"}"]}}`))
	f("JWT valid exp and nbf", "keyA", MethodJWT, nil, "Authorization: Bearer "+signJWT("HS256", secretA, claims(`,"exp":`+itoa(exp+60)+`,"nbf":`+itoa(exp-60))))
	f("JWT exp within leeway", "keyA", MethodJWT, nil, "Authorization: Bearer "+signJWT("HS256", secretA, claims(`,"exp":`+itoa(exp-5))))
	f("JWT expired", "", MethodNone, ErrBadJWT, // apikey.scala:1780: 400
		"Authorization: Bearer "+signJWT("HS256", secretA, claims(`,"exp":`+itoa(exp-11))))
	f("JWT not yet valid", "", MethodNone, ErrBadJWT, // apikey.scala:1780
		"Authorization: Bearer "+signJWT("HS256", secretA, claims(`,"nbf":`+itoa(exp+60))))
	f("JWT wrong secret", "", MethodNone, ErrBadJWT, // apikey.scala:1780
		"Authorization: Bearer "+signJWT("HS256", secretB, claims("")))
	f("JWT unknown key", "", MethodNone, ErrInvalidKey, // apikey.scala:1789
		"Authorization: Bearer "+signJWT("HS256", secretA, `{"clientId":"nobody"}`))
	f("JWT alg none", "", MethodNone, ErrInvalidKey, // apikey.scala:1785: no algorithm
		"Authorization: Bearer "+unsignedJWT(`{"alg":"none"}`, claims(""), ""))
	f("JWT alg RS256", "", MethodNone, ErrInvalidKey, // apikey.scala:1785
		"Authorization: Bearer "+unsignedJWT(`{"alg":"RS256"}`, claims(""), "c2ln"))
	f("JWT without id claim", "", MethodNone, ErrInvalidKey, // apikey.scala:1792
		"Authorization: Bearer "+signJWT("HS256", secretA, `{"sub":"keyA"}`))
	f("JWT bad base64", "", MethodNone, ErrInvalidKey, // apikey.scala:1794: JWT.decode fails
		"Authorization: Bearer a!b.c.d")
	f("JWT payload not JSON", "", MethodNone, ErrInvalidKey, // apikey.scala:1794
		"Authorization: Bearer "+unsignedJWT(`{"alg":"HS256"}`, `{"clientId":`, "c2ln"))
	f("JWT non-numeric exp", "", MethodNone, ErrInvalidKey, // apikey.scala:1794
		"Authorization: Bearer "+signJWT("HS256", secretA, claims(`,"exp":"soon"`)))

	// 5. Basic.
	f("Basic in Authorization", "keyA", MethodBasic, nil, "Authorization: Basic "+basic("keyA", secretA))
	f("Basic in Otoroshi-Authorization", "keyA", MethodBasic, nil, "Otoroshi-Authorization: Basic "+basic("keyA", secretA))
	f("Basic in Otoroshi-Authorization without scheme", "keyA", MethodBasic, nil, "Otoroshi-Authorization: "+basic("keyA", secretA))
	f("Basic without padding", "keyB", MethodBasic, nil, "Authorization: Basic "+strings.TrimRight(basic("keyB", secretB), "="))
	f("Basic bad secret", "", MethodNone, ErrBadKey, // apikey.scala:1807
		"Authorization: Basic "+basic("keyA", secretB))
	f("Basic unknown id", "", MethodNone, ErrInvalidKey, // apikey.scala:1835
		"Authorization: Basic "+basic("nobody", secretA))
	f("Basic not base64", "", MethodNone, ErrNoKey, // apikey.scala:1842: undecodable Basic is no credentials
		"Authorization: Basic %%%")
	f("Basic without colon", "", MethodNone, ErrNoKey, // apikey.scala:1839
		"Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("keyA")))
	f("Basic empty secret", "", MethodNone, ErrNoKey, // apikey.scala:1839
		"Authorization: Basic "+basic("keyA", ""))

	// Order: the first method present decides, even when a later one would succeed.
	f("bearer before basic", "keyA", MethodBearer, nil, "Otoroshi-Token: "+bearerA, "Otoroshi-Authorization: "+basic("keyB", secretB))
	f("bad bearer is not skipped", "", MethodNone, ErrInvalidKey, "Otoroshi-Token: "+BearerToken("keyA", "x"), "Otoroshi-Authorization: "+basic("keyA", secretA))
	f("client id before custom headers", "keyB", MethodClientID, nil, "Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: "+secretA, "x-api-key: keyB")
	f("custom headers before JWT", "keyB", MethodCustomHeaders, nil, "Authorization: Bearer "+signJWT("HS256", secretA, claims("")), "Otoroshi-Client-Id: keyB", "Otoroshi-Client-Secret: "+secretB)
	f("JWT before basic", "keyA", MethodJWT, nil, "Otoroshi-Authorization: "+basic("keyB", secretB), "Otoroshi-Token: "+signJWT("HS256", secretA, claims("")))
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestCheckValidation(t *testing.T) {
	s := testKeys(t)
	p := mustPolicy(t, "", "")
	sc := NewScratch()
	f := func(name, method, id, secret, routeID string, groups []string, want *Rejection) {
		t.Helper()
		req, buf := parse(t, method+" /x HTTP/1.1", "Otoroshi-Client-Id: "+id, "Otoroshi-Client-Secret: "+secret)
		res, rej := p.Check(s, nil, sc, req, buf, routeID, groups, testNow)
		if rej != want {
			t.Fatalf("%s: rejection %v, want %v", name, rej, want)
		}
		if rej == nil && res.Key.ClientID != id {
			t.Fatalf("%s: key %q, want %q", name, res.Key.ClientID, id)
		}
	}
	def := []string{"default"}
	f("authorized through group_", "GET", "keyA", secretA, "route_9", def, nil)
	f("authorized through a bare group id", "GET", "baregroup", "s5", "route_9", def, nil)
	f("authorized on the route", "GET", "routeonly", "s4", "route_1", nil, nil)
	f("route_ key on another route", "GET", "routeonly", "s4", "route_2", def, ErrInvalidKey) // apikey.scala:1587 (findAuthorizeKeyFor: not for this route)
	f("other group", "GET", "othergroup", "s6", "route_1", def, ErrInvalidKey)                // apikey.scala:1587
	f("route in several groups", "GET", "othergroup", "s6", "route_1", []string{"default", "other"}, nil)
	f("disabled", "GET", "disabled", "s1", "route_1", def, ErrBadKey)       // apikey.scala:1559 (isValid needs enabled, :240)
	f("past validUntil", "GET", "expired", "s2", "route_1", def, ErrBadKey) // apikey.scala:432 writes it disabled, then :1559
	f("read-only GET", "GET", "readonly", "s3", "route_1", def, nil)
	f("read-only HEAD", "HEAD", "readonly", "s3", "route_1", def, nil)
	f("read-only OPTIONS", "OPTIONS", "readonly", "s3", "route_1", def, nil)
	f("read-only POST", "POST", "readonly", "s3", "route_1", def, ErrReadOnly)
	f("read-only DELETE", "DELETE", "readonly", "s3", "route_1", def, ErrReadOnly)
	f("rotation: old secret", "GET", "rotating", "old-secret", "route_1", def, nil)
	f("rotation: next secret", "GET", "rotating", "next-secret", "route_1", def, nil)
	f("rotation off: next secret refused", "GET", "notrotating", "next-secret", "route_1", def, ErrBadKey)
	f("rotation off: old secret", "GET", "notrotating", "old-secret", "route_1", def, nil)

	// Bearer tokens follow rotation too.
	req, buf := parse(t, "GET / HTTP/1.1", "Otoroshi-Token: "+BearerToken("rotating", "next-secret"))
	if _, rej := p.Check(s, nil, sc, req, buf, "r", def, testNow); rej != nil {
		t.Fatalf("bearer of the next secret: %v", rej)
	}
	// Validation off: a disabled key passes.
	off := mustPolicy(t, `{"validate":false}`, "")
	req, buf = parse(t, "POST / HTTP/1.1", "Otoroshi-Client-Id: disabled", "Otoroshi-Client-Secret: s1")
	if _, rej := off.Check(s, nil, sc, req, buf, "r", nil, testNow); rej != nil {
		t.Fatalf("validate=false: %v", rej)
	}
}

func TestCheckQuotasAndDrop(t *testing.T) {
	t.Run("unbound", func(t *testing.T) { testCheckQuotasAndDrop(t, false) })
	t.Run("bound", func(t *testing.T) { testCheckQuotasAndDrop(t, true) })
}

func testCheckQuotasAndDrop(t *testing.T, bound bool) {
	s := testKeys(t)
	q := quota.New(quota.Options{})
	if bound {
		var err error
		if s, err = CompileWith(testKeyList(), CompileOptions{Counters: q}); err != nil {
			t.Fatal(err)
		}
	}
	p := mustPolicy(t, "", "")
	sc := NewScratch()
	req, buf := parse(t, "GET /x HTTP/1.1", "Accept: */*", "Otoroshi-Client-Id: limited", "Otoroshi-Client-Secret: s7")
	for i := range 2 {
		res, rej := p.Check(s, q, sc, req, buf, "r", []string{"default"}, testNow)
		if rej != nil {
			t.Fatalf("call %d: %v", i, rej)
		}
		if !res.Counted || res.Rem.Throttle != int64(1-i) || res.Rem.Daily != int64(99-i) {
			t.Fatalf("call %d: counted=%v rem=%+v", i, res.Counted, res.Rem)
		}
		if got := res.Dropped(); len(got) != 2 || got[0] != 2 || got[1] != 3 {
			t.Fatalf("dropped header indexes %v, want [2 3]", got)
		}
		if got := string(AppendQuotaHeaders(nil, res.Rem)); got != "Otoroshi-Daily-Calls-Remaining: "+itoa(int64(99-i))+"\r\nOtoroshi-Monthly-Calls-Remaining: "+itoa(int64(quota.Unlimited-1-i))+"\r\n" {
			t.Fatalf("quota headers %q", got)
		}
	}
	res, rej := p.Check(s, q, sc, req, buf, "r", []string{"default"}, testNow.Add(3*time.Second))
	if rej != ErrTooManyRequests || res.RetryAfter != 7 || res.Key == nil {
		t.Fatalf("third call in the window: %v retry=%d", rej, res.RetryAfter)
	}
	if rej.Status != 429 || rej.Cause != "errors.too.much.requests" || rej.Message != "You performed too much requests" {
		t.Fatalf("429 rejection %+v", rej)
	}
	if bound != (res.Key.slot.Load() != nil) {
		t.Fatalf("bound=%v but key slot %p", bound, res.Key.slot.Load())
	}
	if u := q.Usage("limited", res.Key.Limits, testNow); u.CurrentCallsPerDay != 2 {
		t.Fatalf("refused call was counted: %+v", u)
	}

	keep := mustPolicy(t, `{"wipe_backend_request":false,"update_quotas":false}`, "")
	res, rej = keep.Check(s, q, sc, req, buf, "r", []string{"default"}, testNow.Add(3*time.Second))
	if rej != nil || res.NDrop != 0 || res.Counted {
		t.Fatalf("wipe and quotas off: %v ndrop=%d counted=%v", rej, res.NDrop, res.Counted)
	}
	req, buf = parse(t, "GET /x HTTP/1.1", "Authorization: Basic "+basic("keyA", secretA))
	res, _ = p.Check(s, q, sc, req, buf, "r", []string{"default"}, testNow)
	if got := res.Dropped(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("Basic: dropped %v, want [1]", got)
	}
}

func TestCheckPublicPrivatePaths(t *testing.T) {
	s := testKeys(t)
	p := mustPolicy(t, "", `{"strict":true,"public_patterns":["/public/.*","/health","/v[0-9]+/docs"],"private_patterns":["/public/secret.*"]}`)
	if !p.Strict {
		t.Fatal("strict flag lost")
	}
	sc := NewScratch()
	f := func(path string, public bool) {
		t.Helper()
		if got := p.Public(sc, []byte(path)); got != public {
			t.Fatalf("Public(%q) = %v, want %v", path, got, public)
		}
		req, buf := parse(t, "GET "+path+" HTTP/1.1")
		res, rej := p.Check(s, nil, sc, req, buf, "r", nil, testNow)
		if public && (rej != nil || res.Key != nil) {
			t.Fatalf("public %q without key: %v", path, rej)
		}
		if !public && rej != ErrNoKey {
			t.Fatalf("private %q without key: %v, want ErrNoKey", path, rej)
		}
	}
	f("/public/a", true)
	f("/public/", true)
	f("/public", false)
	f("/health", true)
	f("/healthz", false)
	f("/v2/docs", true)
	f("/v2/docs/x", false)
	f("/public/secret/x", false)
	f("/public/%73ecret", false) // percent-encoded private path
	f("/%70ublic/a", true)
	f("/public/../admin", false)
	f("/public/%2e%2e/admin", false)
	f("/public/./x", false)
	f("/public/..x", true)           // not a dot segment
	f("/public//secret/x", false)    // a backend that merges slashes serves /public/secret/x
	f("/public/%2Fsecret/x", false)  // the same, encoded
	f("/public/..\\secret/x", false) // a backend that reads "\\" as "/" resolves the dot segment
	f("/public/%zz", false)
	f("/private", false)

	// On a public path, credentials that are present are still checked.
	req, buf := parse(t, "GET /public/a HTTP/1.1", "Authorization: Basic "+basic("keyA", "wrong"))
	if _, rej := p.Check(s, nil, sc, req, buf, "r", []string{"default"}, testNow); rej != ErrBadKey {
		t.Fatalf("public path, bad credentials: %v", rej)
	}
	req, buf = parse(t, "GET /public/a HTTP/1.1", "Authorization: Basic "+basic("keyA", secretA))
	if res, rej := p.Check(s, nil, sc, req, buf, "r", []string{"default"}, testNow); rej != nil || res.Key == nil {
		t.Fatalf("public path, good credentials: %v", rej)
	}
	// Not mandatory: no key passes anywhere.
	opt := mustPolicy(t, `{"mandatory":false}`, "")
	req, buf = parse(t, "GET /x HTTP/1.1")
	if res, rej := opt.Check(s, nil, sc, req, buf, "r", nil, testNow); rej != nil || res.Key != nil {
		t.Fatalf("mandatory=false without key: %v", rej)
	}
}

func TestPolicyExtractorsConfig(t *testing.T) {
	s := testKeys(t)
	sc := NewScratch()
	p := mustPolicy(t, `{"extractors":{"basic":{"enabled":false},"custom_headers":{"client_id_header_name":"X-Id","client_secret_header_name":"X-Secret"},"client_id":{"header_name":"X-Key"},"jwt":{"enabled":true,"secret_signed":false},"oto_bearer":{"enabled":true,"header_name":"X-Token"}}}`, "")
	f := func(name string, want *Rejection, headers ...string) {
		t.Helper()
		req, buf := parse(t, "GET /x HTTP/1.1", headers...)
		if _, rej := p.Check(s, nil, sc, req, buf, "r", []string{"default"}, testNow); rej != want {
			t.Fatalf("%s: %v, want %v", name, rej, want)
		}
	}
	f("basic disabled", ErrNoKey, "Authorization: Basic "+basic("keyA", secretA))
	f("jwt needs secret_signed", ErrNoKey, "Authorization: Bearer "+signJWT("HS256", secretA, `{"clientId":"keyA"}`))
	f("custom id header", nil, "x-id: keyA", "x-secret: "+secretA)
	f("default id header no longer read", ErrNoKey, "Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: "+secretA)
	f("custom client id header", nil, "X-Key: keyB")
	f("custom bearer header", nil, "X-Token: "+BearerToken("keyA", secretA))
	f("Authorization bearer still read", nil, "Authorization: Bearer "+BearerToken("keyA", secretA))

	if p.Enabled(MethodBasic) || p.Enabled(MethodJWT) || !p.Enabled(MethodBearer) {
		t.Fatal("Enabled does not reflect the config")
	}
}

func TestParsePolicyErrors(t *testing.T) {
	f := func(calls, paths, wantInErr string) {
		t.Helper()
		_, err := ParsePolicy(json.RawMessage(calls), json.RawMessage(paths))
		if err == nil || !strings.Contains(err.Error(), wantInErr) {
			t.Fatalf("ParsePolicy(%s, %s) error %v, want it to mention %q", calls, paths, err, wantInErr)
		}
	}
	f(`{"validate":"yes"}`, "", "ApikeyCalls")
	f(`{"extractors":{"basic":{"header_name":"bad header"}}}`, "", "extractors.basic.header_name")
	f("", `{"public_patterns":["/ok","/bad(("]}`, "public_patterns[1]")
	f("", `{"private_patterns":"/x"}`, "PublicPrivatePaths")

	p := mustPolicy(t, `{"routing":{"enabled":true},"extractors":{"jwt":{"query_name":"token","cookie_name":"c"}}}`, "")
	want := []string{"extractors.jwt.cookie_name is not supported and is ignored", "extractors.jwt.query_name is not supported and is ignored", "routing.enabled is not supported and is ignored"}
	if strings.Join(p.Warnings, "|") != strings.Join(want, "|") {
		t.Fatalf("warnings %q, want %q", p.Warnings, want)
	}
	def := mustPolicy(t, `{"extractors":{}}`, "")
	if !def.Mandatory || !def.Validate || !def.Wipe || !def.UpdateQuotas || len(def.Warnings) != 0 {
		t.Fatalf("defaults: %+v", def)
	}
	for m := MethodBearer; m < numMethods; m++ {
		if !def.Enabled(m) {
			t.Fatalf("method %v off by default", m)
		}
	}
}

func TestHasDotSegment(t *testing.T) {
	f := func(path string, want bool) {
		t.Helper()
		if got := hasDotSegment([]byte(path)); got != want {
			t.Fatalf("hasDotSegment(%q) = %v", path, got)
		}
	}
	f("/a/b", false)
	f("/a/.b", false)
	f("/a/b.", false)
	f("/a/..b", false)
	f("/.", true)
	f("/..", true)
	f("/a/./b", true)
	f("/a/../b", true)
	f(".", true)
	f("/a/..\\b", true)
	f("/a\\.\\b", true)
	f("/a\\b", false)
}

// TestCheckExactUnderConcurrency runs Check from two goroutines, each with
// its own Scratch as each event loop has, against one key with a throttling
// quota of 1000: exactly 1000 calls pass in the window.
func TestCheckExactUnderConcurrency(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	k := Defaults()
	k.ClientID, k.ClientSecret, k.ClientName = "hot", "hot-secret", "hot"
	k.AuthorizedEntities = []string{"default"}
	k.ThrottlingQuota = 1000
	q := quota.New(quota.Options{})
	s, err := CompileWith([]ApiKey{k}, CompileOptions{Counters: q})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPolicy(t, "", "")
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		sc := NewScratch() // per loop, like the request buffers
		req, buf := parse(t, "GET /x HTTP/1.1", "Authorization: Bearer "+BearerToken("hot", "hot-secret"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1500 {
				_, rej := p.Check(s, q, sc, req, buf, "r", []string{"default"}, testNow.Add(time.Duration(i)*time.Millisecond))
				switch rej {
				case nil:
					accepted.Add(1)
				case ErrTooManyRequests:
					refused.Add(1)
				default:
					t.Errorf("unexpected rejection %v", rej)
					return
				}
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != 1000 || refused.Load() != 2000 {
		t.Fatalf("accepted %d, refused %d; want exactly 1000 and 2000", accepted.Load(), refused.Load())
	}
}

func TestPolicyScope(t *testing.T) {
	s := testKeys(t)
	sc := NewScratch()
	p, err := NewPolicy(PolicyInput{Include: []string{"/api/.*"}, Exclude: []string{"/api/status"}})
	if err != nil {
		t.Fatal(err)
	}
	f := func(path string, inScope bool) {
		t.Helper()
		if got := p.Applies(sc, []byte(path)); got != inScope {
			t.Fatalf("Applies(%q) = %v, want %v", path, got, inScope)
		}
		req, buf := parse(t, "GET "+path+" HTTP/1.1")
		_, rej := p.Check(s, nil, sc, req, buf, "r", nil, testNow)
		if inScope != (rej == ErrNoKey) {
			t.Fatalf("Check(%q) without key: %v, in scope %v", path, rej, inScope)
		}
	}
	f("/api/users", true)
	f("/api/status", false)
	f("/api/%73tatus", false)
	f("/static/app.js", false)
	f("/static/../api/users", true) // dot segment: always in scope
	f("/api/status/../users", true)

	if _, err := NewPolicy(PolicyInput{Exclude: []string{"("}}); err == nil || !strings.Contains(err.Error(), "exclude[0]") {
		t.Fatalf("bad exclude pattern: %v", err)
	}
}

// TestCheckDuplicateCredentialHeaders: the extractors read the first field of
// each name and Drop removes only that one, so a repeated credential field
// would reach the backend (an Otoroshi-Client-Id naming another key, say)
// after the gateway authenticated the first. Such requests are malformed.
func TestCheckDuplicateCredentialHeaders(t *testing.T) {
	s := testKeys(t)
	p := mustPolicy(t, "", "")
	sc := NewScratch()
	f := func(want *Rejection, headers ...string) {
		t.Helper()
		req, buf := parse(t, "GET /x HTTP/1.1", headers...)
		if _, rej := p.Check(s, nil, sc, req, buf, "r", []string{"default"}, testNow); rej != want {
			t.Fatalf("%q: got %v, want %v", headers, rej, want)
		}
	}
	f(nil, "Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: "+secretA)
	f(ErrInvalidTuple, "Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: "+secretA, "Otoroshi-Client-Id: keyB")
	f(ErrInvalidTuple, "Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: "+secretA, "otoroshi-client-secret: "+secretB)
	f(ErrInvalidTuple, "Authorization: Basic "+basic("keyA", secretA), "Authorization: Basic "+basic("keyB", secretB))
	f(ErrInvalidTuple, "Authorization: Bearer "+BearerToken("keyA", secretA), "Authorization: Basic "+basic("keyB", secretB))
	f(ErrInvalidTuple, "Otoroshi-Token: "+BearerToken("keyA", secretA), "Otoroshi-Token: "+BearerToken("keyB", secretB))
	f(ErrInvalidTuple, "x-api-key: keyB", "X-Api-Key: keyA")
	f(ErrInvalidTuple, "Otoroshi-Authorization: "+basic("keyA", secretA), "Otoroshi-Authorization: "+basic("keyB", secretB))
	// A repeated field the chosen method does not read changes nothing.
	f(nil, "Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: "+secretA, "Otoroshi-Authorization: x", "Otoroshi-Authorization: y")
}
