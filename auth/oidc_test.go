package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/internal/testkit"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"
)

// The OpenID provider of these tests is zitadel/oidc's pkg/op, run in the
// test process on loopback, over the example in-memory storage with two
// things added: signing keys that can be rotated, and an ID token lifetime
// that can be shortened (to get an expired token).

// rsaKey is a signing key and its public half.
type rsaKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *rsaKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *rsaKey) Algorithm() jose.SignatureAlgorithm          { return jose.RS256 }
func (k *rsaKey) Use() string                                 { return "sig" }
func (k *rsaKey) ID() string                                  { return k.id }

// privKey is the signing side of an rsaKey (Key returns the private key).
type privKey struct{ *rsaKey }

func (k privKey) Key() any { return k.key }

// pubKey is the JWKS side of an rsaKey.
type pubKey struct{ *rsaKey }

func (k pubKey) Key() any { return &k.key.PublicKey }

// opStorage is the example storage with rotating keys and a settable ID
// token lifetime.
type opStorage struct {
	*storage.Storage
	mu       sync.Mutex
	key      *rsaKey
	lifetime atomic.Int64 // ns; 0 = the example's hour
}

func newKey(t testing.TB, id string) *rsaKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &rsaKey{id: id, key: k}
}

func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return privKey{s.key}, nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet publishes only the current key: after a rotation, a verifier must
// fetch the JWKS again.
func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []op.Key{pubKey{s.key}}, nil
}

func (s *opStorage) rotate(k *rsaKey) {
	s.mu.Lock()
	s.key = k
	s.mu.Unlock()
}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return &opClient{Client: c, s: s}, nil
}

type opClient struct {
	op.Client
	s *opStorage
}

func (c *opClient) IDTokenLifetime() time.Duration {
	if d := c.s.lifetime.Load(); d > 0 {
		return time.Duration(d)
	}
	return c.Client.IDTokenLifetime()
}

// testOP is a running provider.
type testOP struct {
	issuer string
	st     *opStorage
	// swap, when set, replaces the id_token of the next token response.
	swap atomic.Pointer[string]
}

const (
	opUser     = "test-user@127.0.0.1" // the example user store's user on this issuer
	opPassword = "verysecure"
	opEmail    = "test-user@zitadel.ch"
)

// startOP runs a provider with the clients "torii" (redirecting to the
// login server's callback on app.test) and "other".
func startOP(t testing.TB, redirects ...string) *testOP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &testOP{issuer: "http://" + ln.Addr().String()}
	clients := map[string]*storage.Client{
		"torii": storage.WebClient("torii", "torii-secret", append(redirects, "http://app.test"+auth.Prefix+"callback")...),
		"other": storage.WebClient("other", "other-secret", "http://other.test/cb"),
	}
	o.st = &opStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(o.issuer), clients), key: newKey(t, "key-1")}
	cfg := &op.Config{CryptoKey: sha256.Sum256([]byte("test op")), CodeMethodS256: true, AuthMethodPost: true,
		GrantTypeRefreshToken: true, DefaultLogoutRedirectURI: "/logged-out"}
	prov, err := op.NewProvider(cfg, o.st, op.StaticIssuer(o.issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	login := op.NewIssuerInterceptor(prov.IssuerFromRequest)
	cb := op.AuthCallbackURL(prov)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/username", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html><body><form method="post" action="/login/username">
<input type="hidden" name="id" value="%s"><label>User <input id="op-user" name="username"></label>
<label>Password <input id="op-password" type="password" name="password"></label><button id="op-login" type="submit">Login</button></form></body></html>`,
			url.QueryEscape(r.URL.Query().Get("authRequestID")))
	})
	mux.Handle("POST /login/username", login.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.FormValue("id")
		if err := o.st.CheckUsernamePassword(r.FormValue("username"), r.FormValue("password"), id); err != nil {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, cb(r.Context(), id), http.StatusFound)
	}))
	mux.HandleFunc("/logged-out", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "signed out at the provider") })
	mux.Handle("/", prov)
	hs := &http.Server{Handler: o.swapping(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return o
}

// swapping replaces the id_token of a token response when o.swap is set.
func (o *testOP) swapping(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := o.swap.Swap(nil)
		if tok == nil || r.URL.Path != "/oauth/token" {
			if tok != nil {
				o.swap.Store(tok)
			}
			h.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		var body map[string]any
		if err := json.Unmarshal(rec.body.Bytes(), &body); err == nil {
			body["id_token"] = *tok
		}
		b, _ := json.Marshal(body)
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.code)
		_, _ = w.Write(b)
	})
}

type recorder struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(c int)           { r.code = c }

// idToken logs in directly (as a relying party would, without Torii) for
// client and returns the provider's ID token.
func (o *testOP) idToken(t testing.TB, client, secret, redirect string) string {
	t.Helper()
	cfg := &oauth2.Config{ClientID: client, ClientSecret: secret, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: o.issuer + "/authorize", TokenURL: o.issuer + "/oauth/token"},
		Scopes:   []string{"openid", "email", "profile"}}
	jar, _ := cookiejar.New(nil)
	var code string
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			code = r.URL.Query().Get("code")
			return http.ErrUseLastResponse
		}
		return nil
	}}
	v := oauth2.GenerateVerifier()
	resp, err := c.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("nonce", "another-nonce")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, err = c.PostForm(o.issuer+"/login/username", url.Values{"id": {id}, "username": {opUser}, "password": {opPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code == "" {
		t.Fatalf("no code from the provider for %s (status %d)", client, resp.StatusCode)
	}
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	return raw
}

// oidcModule is an oauth2 module for the provider, found by discovery.
func oidcModule(issuer string) string {
	return `{"type":"oauth2","id":"mod_oidc","name":"Test OP","sessionMaxAge":600,"clientId":"torii","clientSecret":"torii-secret",
		"oidConfig":"` + issuer + `/.well-known/openid-configuration","scope":"openid profile email offline_access",
		"nameField":"name","emailField":"email","pkce":{"enabled":true,"algorithm":"S256"},"refreshTokens":true,"readProfileFromToken":false}`
}

// oidcLogin runs a browser login through Torii and the provider and
// returns the last response (Torii's answer to the callback).
func oidcLogin(t testing.TB, c *http.Client, start string) *http.Response {
	t.Helper()
	resp, _ := get(t, c, start)
	for i := 0; i < 10 && resp.StatusCode/100 == 3; i++ {
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if loc.Path == "/login/username" {
			resp, _ = do(t, c, postReq(loc.Scheme+"://"+loc.Host+"/login/username",
				url.Values{"id": {loc.Query().Get("authRequestID")}, "username": {opUser}, "password": {opPassword}}))
			continue
		}
		if loc.Host == "app.test" && loc.Path == auth.Prefix+"callback" {
			resp, _ = get(t, c, loc.String())
			return resp
		}
		resp, _ = get(t, c, loc.String())
	}
	t.Fatalf("login did not reach the callback: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	return nil
}

func postReq(u string, v url.Values) *http.Request {
	r, _ := http.NewRequest("POST", u, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// The oauth2 module against a real OpenID provider: login with PKCE, state
// and nonce; the ID token verified and the profile read from userinfo; the
// backend reached; refresh; logout through the provider's end-session
// endpoint; a token for another audience, with another login's nonce, or
// expired is refused; a rotated signing key is picked up from the JWKS.
func TestOIDCLogin(t *testing.T) {
	o := startOP(t)
	be := testkit.TextBackend(t, "oidc backend")
	logs := &testkit.Buffer{}
	st := startStack(t, nil)
	st.login = auth.NewServer(auth.Options{Sessions: st.sessions, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	st.serveLogin(t)
	st.publish(t, []string{oidcModule(o.issuer)}, privateRoute("r_oidc", "app.test", be, "mod_oidc"))

	c := st.browser(t)
	resp := oidcLogin(t, c, "http://app.test/reports?y=2")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/reports?y=2" {
		t.Fatalf("callback: %d %q; logs: %s", resp.StatusCode, resp.Header.Get("Location"), logs)
	}
	resp, body := get(t, c, "http://app.test/reports?y=2")
	if resp.StatusCode != 200 || body != "oidc backend" {
		t.Fatalf("after login: %d %s", resp.StatusCode, body)
	}
	users := st.sessions.List()
	if len(users) != 1 || users[0].Email != opEmail || users[0].Name != "Test User" || users[0].RefreshToken == "" || users[0].IDToken == "" {
		t.Fatalf("session user: %+v", users)
	}

	// Refresh: the provider gives new tokens; the session lives on.
	if r, e := st.login.RefreshSessions(context.Background()); r != 1 || e != 0 {
		t.Fatalf("refresh: %d refreshed, %d ended; logs: %s", r, e, logs)
	}
	if resp, _ := get(t, c, "http://app.test/reports"); resp.StatusCode != 200 {
		t.Fatalf("after refresh: %d", resp.StatusCode)
	}

	// Logout: the session ends and the browser goes to the provider's end-session endpoint.
	resp, _ = get(t, c, "http://app.test"+auth.Prefix+"logout?route=r_oidc")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), o.issuer+"/end_session?") ||
		!strings.Contains(resp.Header.Get("Location"), "id_token_hint=") {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := len(st.sessions.List()); n != 0 {
		t.Fatalf("%d sessions after logout", n)
	}
	if resp, _ := get(t, c, "http://app.test/reports"); resp.StatusCode != http.StatusFound {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}

	// Tokens that must not log anyone in.
	refused := func(what, token, reason string) {
		t.Helper()
		before := len(logs.String())
		o.swap.Store(&token)
		resp := oidcLogin(t, st.browser(t), "http://app.test/x")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %d", what, resp.StatusCode)
		}
		if !strings.Contains(logs.String()[before:], reason) {
			t.Fatalf("%s: refused, but the log does not say %q: %s", what, reason, logs)
		}
	}
	refused("another audience", o.idToken(t, "other", "other-secret", "http://other.test/cb"), "audience")
	refused("another login's nonce", o.idToken(t, "torii", "torii-secret", "http://app.test"+auth.Prefix+"callback"), "nonce")
	o.st.lifetime.Store(int64(time.Second))
	old := o.idToken(t, "torii", "torii-secret", "http://app.test"+auth.Prefix+"callback")
	o.st.lifetime.Store(0)
	time.Sleep(2100 * time.Millisecond)
	refused("an expired token", old, "expired")
	if n := len(st.sessions.List()); n != 0 {
		t.Fatalf("%d sessions after refused tokens", n)
	}

	// JWKS rotation: a token signed with a new key verifies.
	o.st.rotate(newKey(t, "key-2"))
	c = st.browser(t)
	if resp := oidcLogin(t, c, "http://app.test/x"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after key rotation: %d; logs: %s", resp.StatusCode, logs)
	}

	// A refresh token the provider revoked ends the session.
	u := st.sessions.List()[0]
	if oerr := o.st.RevokeToken(context.Background(), u.RefreshToken, "id1", "torii"); oerr != nil {
		t.Fatal(oerr)
	}
	if r, e := st.login.RefreshSessions(context.Background()); r != 0 || e != 1 {
		t.Fatalf("refresh after revocation: %d refreshed, %d ended; logs: %s", r, e, logs)
	}
	if resp, _ := get(t, c, "http://app.test/x"); resp.StatusCode != http.StatusFound {
		t.Fatalf("after revocation: %d", resp.StatusCode)
	}
	for _, secret := range []string{"torii-secret", opPassword, u.RefreshToken, u.IDToken, old} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the login server logged a secret (%.12s...): %s", secret, logs)
		}
	}
}

// A provider that cannot be reached: the login answers 502 in Otoroshi's
// shape, other hosts and open sessions are not concerned.
func TestOIDCProviderDown(t *testing.T) {
	be := testkit.TextBackend(t, "ok")
	st := startStack(t, nil)
	down := "http://" + testkit.RefusedAddr(t)
	st.publish(t, []string{oidcModule(down)}, privateRoute("r_down", "app.test", be, "mod_oidc"))
	req, _ := http.NewRequest("GET", "http://app.test"+auth.Prefix+"login?route=r_down&redirect=/", nil)
	req.Header.Set("Accept", "application/json")
	resp, body := do(t, st.browser(t), req)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `"error":"errors.auth.provider.unavailable"`) {
		t.Fatalf("provider down: %d %s", resp.StatusCode, body)
	}
}
