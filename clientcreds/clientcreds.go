// Package clientcreds runs Otoroshi's NgClientCredentials plugin: the OAuth2
// client-credentials token endpoint (RFC 6749 §4.4) that a route serves under
// /.well-known/otoroshi/oauth/. An API key's client id and secret buy an
// access token, a JWT signed HS512 with the key's secret and carrying its
// client id in `cid`, which the ApikeyCalls plugin of any route accepts as
// the key (core/apikey's JWT extraction), until it expires.
//
// The endpoint is not on the event loops: a small net/http server on a
// loopback port answers it, and Routes adds, for each domain of a route with
// the plugin, a route that sends /.well-known/otoroshi/oauth/ there (as the
// private-app login pages are served, package auth). The token endpoint
// reads a request body and signs; doing it on a goroutine keeps the loops
// free of both.
//
// Endpoints (Otoroshi's): POST .../token (form or JSON body, or Basic
// credentials; grant_type=client_credentials, client_id, client_secret,
// scope), POST .../token/introspect (token), GET .../jwks.json (empty: HS512
// tokens have no public key).
//
// # Caveats
//
// Differences from Otoroshi: tokens are always HS512 with the key's secret
// (Otoroshi signs with a certificate key pair when the key's metadata names
// one, jwt-sign-keypair); Biscuit tokens (bearer_kind biscuit) are refused;
// `secure` is honoured from the X-Forwarded-Proto the proxy sets. The
// Server is safe for concurrent use.
package clientcreds

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/route"
)

// Prefix is the path the endpoints live under.
const Prefix = "/.well-known/otoroshi/oauth/"

// PluginName is the plugin's short name.
const PluginName = "NgClientCredentials"

// maxBody bounds a token request body: client id, secret and scope.
const maxBody = 16 << 10

// Config is the plugin's config, with Otoroshi's fields.
type Config struct {
	Expiration     int64  `json:"expiration"`     // ms; default one hour
	DefaultKeyPair string `json:"defaultKeyPair"` // sent as kid; no key pair signs (see Caveats)
	Domain         string `json:"domain"`         // "*": the route's domains
	Secure         bool   `json:"secure"`         // refuse plain HTTP (default true)
}

// ParseConfig decodes a plugin config with Otoroshi's defaults; the error
// names the bad field.
func ParseConfig(raw json.RawMessage) (Config, error) {
	c := Config{Expiration: time.Hour.Milliseconds(), DefaultKeyPair: "otoroshi-jwt-signing", Domain: "*", Secure: true}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &c); err != nil {
			return c, fmt.Errorf("config: %v", err)
		}
	}
	if c.Expiration <= 0 {
		return c, fmt.Errorf("config.expiration: must be > 0 ms, got %d", c.Expiration)
	}
	if c.Domain == "" {
		c.Domain = "*"
	}
	return c, nil
}

// Server answers the endpoints for the API keys keys returns (the last
// published set).
type Server struct {
	keys  func() *apikey.Set
	confs atomic.Pointer[map[string]Config] // by host, from the last Routes published
	ln    net.Listener
	srv   *http.Server
	log   *slog.Logger
	now   func() time.Time
}

// New starts a Server on a loopback port. keys returns the API keys in
// force; Close stops it.
func New(keys func() *apikey.Set, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cannot listen for the client-credentials endpoint: %w", err)
	}
	s := &Server{keys: keys, ln: ln, log: log, now: time.Now}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("client-credentials endpoint stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the loopback address the added routes send to.
func (s *Server) Addr() netip.AddrPort {
	return netip.MustParseAddrPort(s.ln.Addr().String())
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// jsonError writes an OAuth2 error.
func jsonError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	var conf Config
	ok := false
	if m := s.confs.Load(); m != nil {
		conf, ok = (*m)[host]
	}
	if !ok {
		conf = Config{Secure: true, Expiration: time.Hour.Milliseconds(), DefaultKeyPair: "otoroshi-jwt-signing"}
	}
	if conf.Secure && r.Header.Get("X-Forwarded-Proto") != "https" {
		jsonError(w, http.StatusBadRequest, "bad_request", "use a secure channel")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == Prefix+"jwks.json":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"keys":[]}`))
	case r.Method == http.MethodPost && r.URL.Path == Prefix+"token":
		s.token(w, r, conf)
	case r.Method == http.MethodPost && r.URL.Path == Prefix+"token/introspect":
		s.introspect(w, r)
	default:
		jsonError(w, http.StatusNotFound, "not_found", "resource not found")
	}
}

// form reads the request's parameters (form or JSON body) and Basic
// credentials, as Otoroshi's handleBody.
func form(r *http.Request) (map[string]string, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return nil, false
	}
	out := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, false
		}
		for k := range v {
			out[k] = v.Get(k)
		}
	case "application/json":
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return nil, false
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				out[k] = v
			case float64, bool:
				out[k] = fmt.Sprint(v)
			}
		}
	default:
		return nil, false
	}
	if id, secret, ok := r.BasicAuth(); ok {
		out["client_id"], out["client_secret"] = id, secret
	}
	return out, true
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, conf Config) {
	p, ok := form(r)
	if !ok {
		jsonError(w, http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	if p["client_id"] == "" || p["client_secret"] == "" {
		jsonError(w, http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	if gt := p["grant_type"]; gt != "client_credentials" {
		jsonError(w, http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("Grant type '%s' not supported !", gt))
		return
	}
	if k := p["bearer_kind"]; k != "" && k != "jwt" {
		jsonError(w, http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("Bearer kind '%s' not supported by Torii", k))
		return
	}
	now := s.now()
	var key *apikey.Key
	if set := s.keys(); set != nil {
		key = set.Get(p["client_id"])
	}
	if key == nil || !key.Usable(now) ||
		subtle.ConstantTimeCompare([]byte(key.Secret()), []byte(p["client_secret"])) != 1 {
		jsonError(w, http.StatusUnauthorized, "access_denied", "Bad client credentials")
		return
	}
	scope := p["scope"]
	granted, _ := key.Metadata().Get("scope")
	if scope != "" && !hasScopes(granted, scope) {
		jsonError(w, http.StatusForbidden, "access_denied", "Client has not been granted scopes: "+scope)
		return
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	exp := time.Duration(conf.Expiration) * time.Millisecond
	proto := "http"
	if r.Header.Get("X-Forwarded-Proto") == "https" {
		proto = "https"
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{
		"jti": hex.EncodeToString(jti[:]), "exp": now.Add(exp).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"cid": key.ClientID, "iss": proto + "://" + r.Host, "sub": key.ClientID, "aud": "otoroshi"})
	tok.Header["kid"] = conf.DefaultKeyPair
	signed, err := tok.SignedString([]byte(key.Secret()))
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "server_error", "cannot sign the token")
		return
	}
	out := map[string]any{"access_token": signed, "token_type": "Bearer", "expires_in": int64(exp / time.Second)}
	if scope == "" {
		scope = granted
	}
	if scope != "" {
		out["scope"] = scope
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// hasScopes reports whether every space-separated scope of want is in granted.
func hasScopes(granted, want string) bool {
	have := map[string]bool{}
	for _, g := range strings.Fields(granted) {
		have[g] = true
	}
	for _, s := range strings.Fields(want) {
		if !have[s] {
			return false
		}
	}
	return true
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	p, ok := form(r)
	if !ok || p["token"] == "" {
		jsonError(w, http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	var claims jwt.MapClaims
	tok, err := jwt.ParseWithClaims(p["token"], &claims, func(t *jwt.Token) (any, error) {
		cid, _ := claims["cid"].(string)
		set := s.keys()
		if set == nil {
			return nil, errors.New("no keys")
		}
		k := set.Get(cid)
		if k == nil || !k.Usable(s.now()) {
			return nil, errors.New("unknown client")
		}
		return []byte(k.Secret()), nil
	}, jwt.WithValidMethods([]string{"HS512"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now))
	if err != nil || !tok.Valid {
		jsonError(w, http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	k := s.keys().Get(claims["cid"].(string))
	tags := k.Tags()
	if tags == nil {
		tags = []string{}
	}
	light := map[string]any{"clientId": k.ClientID, "clientName": k.ClientName, "metadata": k.Metadata().Map(),
		"tags": tags, "access_type": "apikey"}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(light)
}

// tokenRoutePrefix starts the id of every token route Routes adds.
const tokenRoutePrefix = "torii_oauth_"

// Uses reports whether Routes depends on r: r has an enabled NgClientCredentials plugin.
// Routes over the routes that use the plugin adds the same routes, with the same configs, as
// over a whole list in the same order.
func Uses(r *route.Route) bool {
	for _, pl := range r.Plugins {
		if pl.Enabled && strings.HasSuffix(pl.Plugin, "."+PluginName) {
			return true
		}
	}
	return false
}

// IsTokenRouteID reports whether id is the id Routes gives its routes.
func IsTokenRouteID(id string) bool { return strings.HasPrefix(id, tokenRoutePrefix) }

// Routes returns routes with, for each domain of a route with an enabled
// NgClientCredentials plugin (its config's domain, or the route's domains
// when "*"), one route more that sends host+Prefix to the server at addr.
// It also returns the config of each host, for the server (SetConfigs).
// A bad plugin config is an error naming the route.
func Routes(routes []route.Route, addr netip.AddrPort) ([]route.Route, map[string]Config, error) {
	confs := map[string]Config{}
	var errs []error
	for i := range routes {
		r := &routes[i]
		for j, pl := range r.Plugins {
			if !pl.Enabled || !strings.HasSuffix(pl.Plugin, "."+PluginName) {
				continue
			}
			c, err := ParseConfig(pl.Config)
			if err != nil {
				errs = append(errs, fmt.Errorf("route %q: plugins[%d].%w", r.ID, j, err))
				continue
			}
			hosts := []string{c.Domain}
			if c.Domain == "*" {
				hosts = nil
				for _, d := range r.Frontend.Domains {
					h, _, _ := strings.Cut(d, "/")
					hosts = append(hosts, strings.ToLower(h))
				}
			}
			for _, h := range hosts {
				if _, ok := confs[h]; !ok {
					confs[h] = c
				}
			}
		}
	}
	if len(errs) > 0 {
		return routes, nil, errors.Join(errs...)
	}
	if len(confs) == 0 || !addr.IsValid() {
		return routes, confs, nil
	}
	out := append([]route.Route(nil), routes...)
	for _, h := range sortedKeys(confs) {
		out = append(out, route.Route{
			ID: tokenRoutePrefix + base64.RawURLEncoding.EncodeToString([]byte(h)), Name: "Client credentials (" + h + ")",
			Description: "added by Torii: the NgClientCredentials token endpoint on " + h,
			Enabled:     true, Groups: []string{"default"},
			Frontend: route.Frontend{Domains: []string{h + strings.TrimSuffix(Prefix, "/")}},
			Backend: route.Backend{
				Root: "/", LoadBalancing: route.LoadBalancing{Type: "RoundRobin"}, Client: route.DefaultClientConfig(),
				Targets: []route.Target{{ID: "oauth", Hostname: addr.Addr().String(), Port: int(addr.Port()), Weight: 1, Protocol: "HTTP/1.1"}},
			},
		})
	}
	return out, confs, nil
}

// SetConfigs installs the per-host configs Routes returned.
func (s *Server) SetConfigs(confs map[string]Config) {
	m := make(map[string]Config, len(confs))
	for k, v := range confs {
		m[k] = v
	}
	s.confs.Store(&m)
}

// Configs returns the per-host configs in force (from the last SetConfigs); the map must not
// be modified.
func (s *Server) Configs() map[string]Config {
	if m := s.confs.Load(); m != nil {
		return *m
	}
	return nil
}

func sortedKeys(m map[string]Config) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
