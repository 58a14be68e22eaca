package plugin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// jwksCache holds the keys of one JWKS URL (JWKSAlgoSettings). The keys are
// fetched off the event loops: once when a verifier naming the URL is
// compiled (at publish, bounded by the settings' timeout), then by a
// goroutine started when a request finds them older than ttl or misses a
// kid (at most one fetch at a time, and one every minRefetch). A request
// never waits for a fetch: it uses the keys it finds. Caches are shared by
// URL and headers across publishes.
type jwksCache struct {
	url      string
	headers  map[string]string
	timeout  time.Duration
	ttl      time.Duration
	keys     atomic.Pointer[jwksKeys]
	fetching atomic.Bool
	lastTry  atomic.Int64 // Unix ns of the last fetch start
}

type jwksKeys struct {
	byKid map[string]any // *rsa.PublicKey or *ecdsa.PublicKey
	all   []any
	at    time.Time
}

// minRefetch bounds how often a kid miss may refetch a JWKS: a client
// sending made-up kids must not turn the gateway into a load generator
// against the key server.
const minRefetch = 10 * time.Second

var jwksCaches sync.Map // cache key → *jwksCache

// jwksClient fetches key sets; its timeout is per request (the settings').
var jwksClient = &http.Client{}

func compileJWKS(raw json.RawMessage) (*jwksCache, *FieldError) {
	var s struct {
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Timeout *int64            `json:"timeout"`
		TTL     *int64            `json:"ttl"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, &FieldError{"", "bad value: " + err.Error()}
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &FieldError{"url", fmt.Sprintf("must be an http(s) URL, got %q", s.URL)}
	}
	timeout, ttl := 2*time.Second, time.Hour
	if s.Timeout != nil {
		if *s.Timeout <= 0 {
			return nil, &FieldError{"timeout", fmt.Sprintf("must be > 0 ms, got %d", *s.Timeout)}
		}
		timeout = time.Duration(*s.Timeout) * time.Millisecond
	}
	if s.TTL != nil {
		if *s.TTL <= 0 {
			return nil, &FieldError{"ttl", fmt.Sprintf("must be > 0 ms, got %d", *s.TTL)}
		}
		ttl = time.Duration(*s.TTL) * time.Millisecond
	}
	names := make([]string, 0, len(s.Headers))
	for k := range s.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	key := s.URL
	for _, k := range names {
		key += "\x00" + k + "=" + s.Headers[k]
	}
	v, _ := jwksCaches.LoadOrStore(key, &jwksCache{url: s.URL, headers: s.Headers, timeout: timeout, ttl: ttl})
	c := v.(*jwksCache)
	if c.keys.Load() == nil {
		c.fetch() // at publish, off the loops; a failure leaves the keys to a later fetch
	}
	return c, nil
}

// refreshAsync starts a fetch on its own goroutine unless one runs or one
// started less than minRefetch ago. Safe on a loop: it never blocks.
func (c *jwksCache) refreshAsync(now time.Time) {
	if now.UnixNano()-c.lastTry.Load() < int64(minRefetch) || !c.fetching.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer c.fetching.Store(false)
		c.fetch()
	}()
}

// fetch gets and parses the key set; it keeps the previous keys on a failure.
func (c *jwksCache) fetch() error {
	c.lastTry.Store(time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return fmt.Errorf("cannot fetch the JWKS %s: %w", c.url, err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := jwksClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot fetch the JWKS %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cannot fetch the JWKS %s: status %d", c.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("cannot read the JWKS %s: %w", c.url, err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return fmt.Errorf("cannot parse the JWKS %s: %w", c.url, err)
	}
	keys.at = time.Now()
	c.keys.Store(keys)
	return nil
}

// parseJWKS reads the RSA and EC public keys of a JWK set (RFC 7517).
func parseJWKS(body []byte) (*jwksKeys, error) {
	var set struct {
		Keys []struct {
			Kty, Kid, Use, N, E, Crv, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, err
	}
	out := &jwksKeys{byKid: map[string]any{}}
	b64 := base64.RawURLEncoding
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub any
		switch k.Kty {
		case "RSA":
			n, err1 := b64.DecodeString(strings.TrimRight(k.N, "="))
			e, err2 := b64.DecodeString(strings.TrimRight(k.E, "="))
			if err1 != nil || err2 != nil || len(e) > 4 {
				continue
			}
			pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			case "P-521":
				curve = elliptic.P521()
			default:
				continue
			}
			x, err1 := b64.DecodeString(strings.TrimRight(k.X, "="))
			y, err2 := b64.DecodeString(strings.TrimRight(k.Y, "="))
			size := (curve.Params().BitSize + 7) / 8
			if err1 != nil || err2 != nil || len(x) > size || len(y) > size {
				continue
			}
			// SEC 1 uncompressed point: 0x04 || X || Y, each left-padded to the field size.
			point := make([]byte, 1+2*size)
			point[0] = 4
			copy(point[1+size-len(x):1+size], x)
			copy(point[1+2*size-len(y):], y)
			ec, err := ecdsa.ParseUncompressedPublicKey(curve, point)
			if err != nil {
				continue
			}
			pub = ec
		default:
			continue
		}
		out.all = append(out.all, pub)
		if k.Kid != "" {
			out.byKid[k.Kid] = pub
		}
	}
	return out, nil
}

// verify checks tok with the key its header's kid names (or the only key).
func (c *jwksCache) verify(dst, tok []byte) ([]byte, error) {
	i := bytes.IndexByte(tok, '.')
	j := bytes.LastIndexByte(tok, '.')
	if i <= 0 || j <= i {
		return dst[:0], fmt.Errorf("%w: not a compact JWS", ErrToken)
	}
	var h struct{ Alg, Kid string }
	raw, err := base64.RawURLEncoding.AppendDecode(dst[:0], tok[:i])
	if err != nil || json.Unmarshal(raw, &h) != nil {
		return dst[:0], fmt.Errorf("%w: bad header", ErrToken)
	}
	now := time.Now()
	keys := c.keys.Load()
	if keys == nil || now.Sub(keys.at) > c.ttl {
		c.refreshAsync(now)
	}
	if keys == nil {
		return dst[:0], fmt.Errorf("%w: the JWKS %s is not fetched yet", ErrToken, c.url)
	}
	key := keys.byKid[h.Kid]
	if key == nil && h.Kid == "" && len(keys.all) == 1 {
		key = keys.all[0]
	}
	if key == nil {
		c.refreshAsync(now) // a rotated key set
		return dst[:0], fmt.Errorf("%w: no key %q in the JWKS", ErrToken, h.Kid)
	}
	sig, err := base64.RawURLEncoding.AppendDecode(dst[:0], tok[j+1:])
	if err != nil || !verifyPublic(h.Alg, key, tok[:j], sig) {
		return dst[:0], fmt.Errorf("%w: bad signature", ErrToken)
	}
	return base64.RawURLEncoding.AppendDecode(dst[:0], tok[i+1:j])
}
