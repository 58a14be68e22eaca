package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// rediscoverAfter is how long a failed discovery is remembered before the
// next login tries again.
const rediscoverAfter = 10 * time.Second

// errProvider: the OAuth2 provider could not be reached or answered an
// error; the login is answered 502.
var errProvider = errors.New("auth: OAuth2 provider error")

// errToken: the provider's tokens did not verify (signature, audience,
// expiry, nonce); the login is answered 401.
var errToken = errors.New("auth: token refused")

// oauthProvider is the OIDC/OAuth2 side of one oauth2 module: discovery and
// the JWKS key set are fetched on the login server's goroutines, cached,
// and reused by every login (go-oidc refetches the JWKS when a token names
// a key it does not know, which is how a key rotation is followed).
type oauthProvider struct {
	c      *Config
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	endpoint oauth2.Endpoint
	endSess  string
	failedAt time.Time
	lastErr  error
}

func newOAuthProvider(c *Config, client *http.Client) *oauthProvider {
	return &oauthProvider{c: c, client: client}
}

// ready discovers the provider once (and again after a failure, at most
// every rediscoverAfter).
func (p *oauthProvider) ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return nil
	}
	if !p.failedAt.IsZero() && time.Since(p.failedAt) < rediscoverAfter {
		return p.lastErr
	}
	// The key set keeps this context for its later fetches: never a
	// request's context, which ends with the request.
	ctx := oidc.ClientContext(context.Background(), p.client)
	c := p.c
	var prov *oidc.Provider
	if iss := c.oidcIssuer(); iss != "" {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var err error
		prov, err = oidc.NewProvider(oidc.ClientContext(dctx, p.client), iss)
		cancel()
		if err != nil {
			p.failedAt, p.lastErr = time.Now(), fmt.Errorf("%w: cannot discover %s: %w", errProvider, iss, err)
			return p.lastErr
		}
		// NewProvider bound its key set to dctx: build it again on ctx.
		var meta struct {
			Issuer     string `json:"issuer"`
			JWKS       string `json:"jwks_uri"`
			UserInfo   string `json:"userinfo_endpoint"`
			EndSession string `json:"end_session_endpoint"`
		}
		if err := prov.Claims(&meta); err != nil {
			p.failedAt, p.lastErr = time.Now(), fmt.Errorf("%w: bad discovery document: %w", errProvider, err)
			return p.lastErr
		}
		ep := prov.Endpoint()
		cfg := &oidc.ProviderConfig{IssuerURL: meta.Issuer, AuthURL: ep.AuthURL, TokenURL: ep.TokenURL,
			UserInfoURL: meta.UserInfo, JWKSURL: meta.JWKS}
		if c.UserInfoURL != "" {
			cfg.UserInfoURL = c.UserInfoURL
		}
		prov = cfg.NewProvider(ctx)
		p.endSess = meta.EndSession
		p.verifier = prov.Verifier(&oidc.Config{ClientID: c.ClientID})
	} else {
		cfg := &oidc.ProviderConfig{AuthURL: c.AuthorizeURL, TokenURL: c.TokenURL, UserInfoURL: c.UserInfoURL, JWKSURL: c.jwksURL()}
		prov = cfg.NewProvider(ctx)
		if cfg.JWKSURL != "" {
			// No discovery, so no issuer to compare: audience, expiry and
			// signature are still checked.
			p.verifier = prov.Verifier(&oidc.Config{ClientID: c.ClientID, SkipIssuerCheck: true})
		}
	}
	if c.LogoutURL != "" {
		p.endSess = c.LogoutURL
	}
	p.provider, p.endpoint = prov, prov.Endpoint()
	return nil
}

// config is the oauth2.Config of a login on host (callbackUrl, or the
// login server's callback on the route's own host).
func (p *oauthProvider) config(callback string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     p.c.ClientID,
		ClientSecret: p.c.ClientSecret,
		Endpoint:     p.endpoint,
		RedirectURL:  callback,
		Scopes:       strings.Fields(p.c.Scope),
	}
}

// authURL is where the browser goes to log in.
func (p *oauthProvider) authURL(callback string, f *flow) string {
	opts := []oauth2.AuthCodeOption{oidc.Nonce(f.nonce)}
	if p.c.PKCE == nil || !p.c.PKCE.Enabled || p.c.PKCE.Algorithm != "plain" {
		opts = append(opts, oauth2.S256ChallengeOption(f.verifier))
	} else {
		opts = append(opts, oauth2.SetAuthURLParam("code_challenge", f.verifier),
			oauth2.SetAuthURLParam("code_challenge_method", "plain"))
	}
	return p.config(callback).AuthCodeURL(f.state, opts...)
}

// exchange trades the code for tokens, verifies the ID token and its nonce,
// and reads the profile (userinfo, or the token's claims).
func (p *oauthProvider) exchange(ctx context.Context, callback, code string, f *flow) (*Identity, error) {
	ctx = oidc.ClientContext(ctx, p.client)
	tok, err := p.config(callback).Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w: the provider refused the code: %s", errToken, re.ErrorCode)
		}
		return nil, fmt.Errorf("%w: token exchange failed: %w", errProvider, err)
	}
	return p.identity(ctx, tok, f.nonce)
}

// identity builds the user of a token response. nonce is checked when not
// empty (a login; a refresh has none).
func (p *oauthProvider) identity(ctx context.Context, tok *oauth2.Token, nonce string) (*Identity, error) {
	claims := map[string]any{}
	rawID, _ := tok.Extra("id_token").(string)
	if p.verifier != nil {
		if rawID == "" && nonce != "" {
			return nil, fmt.Errorf("%w: no id_token in the token response", errToken)
		}
		if rawID != "" {
			idt, err := p.verifier.Verify(ctx, rawID)
			if err != nil {
				if strings.Contains(err.Error(), "fetching keys") {
					return nil, fmt.Errorf("%w: %w", errProvider, err)
				}
				return nil, fmt.Errorf("%w: %w", errToken, err)
			}
			if nonce != "" && idt.Nonce != nonce {
				return nil, fmt.Errorf("%w: the ID token's nonce is not the login's", errToken)
			}
			if err := idt.Claims(&claims); err != nil {
				return nil, fmt.Errorf("%w: %w", errToken, err)
			}
		}
	}
	if !p.c.ReadProfileFromToken && p.provider.UserInfoEndpoint() != "" {
		ui, err := p.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, fmt.Errorf("%w: userinfo: %w", errProvider, err)
		}
		info := map[string]any{}
		if err := ui.Claims(&info); err != nil {
			return nil, fmt.Errorf("%w: userinfo: %w", errProvider, err)
		}
		if sub, _ := claims["sub"].(string); sub != "" && sub != ui.Subject {
			return nil, fmt.Errorf("%w: userinfo is about another subject", errToken)
		}
		claims = info
	}
	if len(claims) == 0 {
		return nil, fmt.Errorf("%w: no profile: set oidConfig, a jwtVerifier or userInfoUrl", errToken)
	}
	id := &Identity{RefreshToken: tok.RefreshToken, IDToken: rawID}
	id.Name, _ = claims[p.c.NameField].(string)
	id.Email, _ = claims[p.c.EmailField].(string)
	if id.Email == "" {
		id.Email, _ = claims["sub"].(string)
	}
	if id.Name == "" {
		id.Name = id.Email
	}
	if gs, ok := claims["groups"].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				id.Groups = append(id.Groups, s)
			}
		}
	}
	for _, f := range strings.Split(p.c.OtoroshiDataField, "|") {
		if v, ok := claims[strings.TrimSpace(f)].(map[string]any); ok {
			id.Metadata, _ = json.Marshal(v)
			break
		}
	}
	id.Profile, _ = json.Marshal(claims)
	return id, nil
}

// refresh uses a refresh token; a refused one is errToken (the session
// should end).
func (p *oauthProvider) refresh(ctx context.Context, refreshToken string) (*Identity, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, p.client)
	ts := p.config("").TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := ts.Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w: refresh refused: %s", errToken, re.ErrorCode)
		}
		return nil, fmt.Errorf("%w: refresh failed: %w", errProvider, err)
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return p.identity(ctx, tok, "")
}
