package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"go.etcd.io/bbolt"
)

// adminKey is what is stored to verify the admin API key: its client id, a random salt and
// HMAC-SHA256(key=salt, msg=secret). The secret itself is never stored.
type adminKey struct {
	ClientID string `json:"clientId"`
	Salt     string `json:"salt"`
	Hash     string `json:"hash"`
	salt     []byte
	hash     []byte
}

func hashSecret(salt []byte, secret string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// loadOrCreateAdminKey returns the stored admin key, creating one on first start (or when reset).
// When it creates one, secret is the clear secret, to be shown once; otherwise secret is empty.
func loadOrCreateAdminKey(db *bbolt.DB, wantID, wantSecret string, reset bool) (key *adminKey, secret string, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		if raw := meta.Get([]byte(metaAdminKey)); raw != nil && !reset {
			key = new(adminKey)
			if err := json.Unmarshal(raw, key); err != nil {
				return fmt.Errorf("cannot decode admin key: %w", err)
			}
			return nil
		}
		id, sec := wantID, wantSecret
		if id == "" {
			id = newClientID()
		}
		if sec == "" {
			sec = newClientSecret()
		}
		salt := make([]byte, 32)
		rand.Read(salt)
		key = &adminKey{ClientID: id, Salt: hex.EncodeToString(salt), Hash: hex.EncodeToString(hashSecret(salt, sec))}
		raw, err := json.Marshal(key)
		if err != nil {
			return fmt.Errorf("cannot encode admin key: %w", err)
		}
		secret = sec
		return meta.Put([]byte(metaAdminKey), raw)
	})
	if err != nil {
		return nil, "", fmt.Errorf("cannot set up the admin key: %w", err)
	}
	if key.salt, err = hex.DecodeString(key.Salt); err != nil {
		return nil, "", fmt.Errorf("cannot decode admin key salt: %w", err)
	}
	if key.hash, err = hex.DecodeString(key.Hash); err != nil {
		return nil, "", fmt.Errorf("cannot decode admin key hash: %w", err)
	}
	return key, secret, nil
}

// verify checks a client id and secret in constant time (for a given id length).
func (k *adminKey) verify(id, secret string) bool {
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(k.ClientID))
	secOK := subtle.ConstantTimeCompare(hashSecret(k.salt, secret), k.hash)
	return idOK&secOK == 1
}

// credentials extracts the admin credentials of a request: Basic first, then the
// Otoroshi-Client-Id / Otoroshi-Client-Secret pair.
func credentials(r *http.Request) (id, secret string, ok bool) {
	if id, secret, ok = r.BasicAuth(); ok {
		return id, secret, true
	}
	id, secret = r.Header.Get("Otoroshi-Client-Id"), r.Header.Get("Otoroshi-Client-Secret")
	return id, secret, id != "" && secret != ""
}

type ctxKey struct{}

// who returns the admin client id that authenticated the request.
func who(r *http.Request) string {
	s, _ := r.Context().Value(ctxKey{}).(string)
	return s
}

func withWho(r *http.Request, id string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
}

// hostAllowed reports whether a Host (or Origin host) names this server: a loopback name or
// address, or one of the configured names. This stops DNS rebinding: a page on evil.example whose
// name later resolves to 127.0.0.1 still sends Host: evil.example.
func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return true
	}
	for _, h := range s.allowedHosts {
		if h == host {
			return true
		}
	}
	if st := s.cur.Load(); st != nil {
		return slices.Contains(groupHosts(st), host)
	}
	return false
}

// checkOrigin refuses requests whose Host or Origin is not this server (403), which stops DNS
// rebinding and cross-site requests from a browser.
func (s *Server) checkOrigin(r *http.Request) error {
	if !s.hostAllowed(r.Host) {
		return errForbidden("host not allowed")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !s.hostAllowed(u.Host) {
		return errForbidden("origin not allowed")
	}
	return nil
}
