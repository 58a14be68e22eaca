package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/torii-gateway/torii/core/quota"
)

// bearerPrefix starts an Otoroshi bearer token: otoapk_<clientId>_<hex hmac>.
const bearerPrefix = "otoapk_"

// Key is one compiled, immutable API key. Safe for concurrent readers.
type Key struct {
	ClientID   string
	ClientName string
	Limits     quota.Limits
	ReadOnly   bool
	// AllowClientIDOnly lets the key authenticate with its client id alone
	// (x-api-key).
	AllowClientIDOnly bool
	// Source is the entity the key was compiled from. Read-only; it holds the
	// secret, so never log it or put it in an event.
	Source *ApiKey

	slot       *quota.Slot // the key's counters in Set.counters, when bound
	enabled    bool
	validUntil int64 // Unix ms; math.MaxInt64 when the key never expires
	routes     map[string]struct{}
	groups     map[string]struct{}
	nsecrets   int
	// The current secret, then the next one during rotation, and the
	// Otoroshi bearer token of each, as bytes for constant-time comparison.
	secretBytes [2][]byte
	bearerBytes [2][]byte
}

// Set is an immutable compiled set of keys, indexed by client id. Safe for
// concurrent readers.
//
// Every loop reads a Set on every request with a key, so its parts sit on
// cache lines no written object shares (see cacheLine): the struct is one
// line, and the index slots and the keys have a line of padding on each side.
type Set struct {
	index    index
	keys     []Key
	counters *quota.Counters
}

// CompileOptions tune CompileWith.
type CompileOptions struct {
	// Counters, when set, are the quota counters Check will be given: each
	// key's quota.Slot is looked up once here, so Check counts a call without
	// a map lookup. Check still works with other counters, through the map.
	Counters *quota.Counters
}

// Compile validates keys and builds a Set. Errors name the client id and field.
func Compile(keys []ApiKey) (*Set, error) { return CompileWith(keys, CompileOptions{}) }

// CompileWith is Compile with options. It runs off the event loops (it
// allocates and may take quota shard locks).
func CompileWith(keys []ApiKey, opts CompileOptions) (*Set, error) {
	n := len(keys)
	padded := make([]Key, 1+n+1) // a Key is larger than a cache line
	s := &Set{index: newIndex(n), keys: padded[1 : 1+n : 1+n], counters: opts.Counters}
	for i := range keys {
		src := &keys[i]
		if err := src.Validate(); err != nil {
			return nil, err
		}
		k := &s.keys[i]
		compileKey(k, src)
		if !s.index.insert(k) {
			return nil, fmt.Errorf("cannot compile apikey %q: field clientId: %w", src.ClientID, ErrDuplicate)
		}
		if s.counters != nil {
			k.slot = s.counters.Slot(k.ClientID)
		}
	}
	return s, nil
}

func compileKey(k *Key, src *ApiKey) {
	*k = Key{
		ClientID:          src.ClientID,
		ClientName:        src.ClientName,
		Limits:            src.Limits(),
		ReadOnly:          src.ReadOnly,
		AllowClientIDOnly: src.AllowClientIDOnly,
		Source:            src,
		enabled:           src.Enabled,
		validUntil:        math.MaxInt64,
		routes:            make(map[string]struct{}),
		groups:            make(map[string]struct{}),
	}
	if src.ValidUntil != nil {
		k.validUntil = *src.ValidUntil
	}
	entities := src.AuthorizedEntities
	if len(entities) == 0 {
		// Keys from before authorizedEntities carry one authorizedGroup.
		if raw, ok := src.Extra["authorizedGroup"]; ok {
			var g string
			if json.Unmarshal(raw, &g) == nil && g != "" {
				entities = []string{g}
			}
		}
	}
	for _, e := range entities {
		switch {
		case strings.HasPrefix(e, "route_"):
			k.routes[e[len("route_"):]] = struct{}{}
		case strings.HasPrefix(e, "service_"):
			// Legacy service descriptors become routes with the same id.
			k.routes[e[len("service_"):]] = struct{}{}
		case strings.HasPrefix(e, "group_"):
			k.groups[e[len("group_"):]] = struct{}{}
		default:
			k.groups[e] = struct{}{}
		}
	}
	k.addSecret(src.ClientSecret)
	if r := src.Rotation; r.Enabled && r.NextSecret != nil && *r.NextSecret != "" && *r.NextSecret != src.ClientSecret {
		k.addSecret(*r.NextSecret)
	}
}

func (k *Key) addSecret(secret string) {
	k.secretBytes[k.nsecrets] = []byte(secret)
	k.bearerBytes[k.nsecrets] = []byte(BearerToken(k.ClientID, secret))
	k.nsecrets++
}

// BearerToken returns the Otoroshi bearer token of a key:
// "otoapk_<clientId>_" followed by the hex HMAC-SHA256 of "otoapk_<clientId>"
// keyed with the secret.
func BearerToken(clientID, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(bearerPrefix + clientID))
	return bearerPrefix + clientID + "_" + hex.EncodeToString(m.Sum(nil))
}

// Get returns the key with client id id, or nil.
func (s *Set) Get(id string) *Key { return s.Lookup([]byte(id)) }

// Lookup is Get for wire bytes; it does not allocate.
func (s *Set) Lookup(id []byte) *Key { return s.index.find(id) }

// Len returns the number of keys.
func (s *Set) Len() int { return len(s.keys) }

// Keys returns the compiled keys in input order. The slice is shared: do not
// modify it.
func (s *Set) Keys() []Key { return s.keys }

// AuthorizedOn reports whether the key may call the route routeID, directly
// or through one of the route's groups.
func (k *Key) AuthorizedOn(routeID string, routeGroups []string) bool {
	if _, ok := k.routes[routeID]; ok {
		return true
	}
	for _, g := range routeGroups {
		if _, ok := k.groups[g]; ok {
			return true
		}
	}
	return false
}

// Usable reports whether the key is enabled and not past validUntil at now.
func (k *Key) Usable(now time.Time) bool {
	return k.enabled && now.UnixMilli() <= k.validUntil
}

// ForRoute returns the keys authorized on route routeID, directly or through
// one of routeGroups, in input order (GET /api/routes/:rid/apikeys). It
// allocates; it is meant for the admin API.
func (s *Set) ForRoute(routeID string, routeGroups []string) []*Key {
	var out []*Key
	for i := range s.keys {
		if s.keys[i].AuthorizedOn(routeID, routeGroups) {
			out = append(out, &s.keys[i])
		}
	}
	return out
}

// ForGroup returns the keys authorized on group groupID, in input order
// (GET /api/groups/:gid/apikeys). It allocates; it is meant for the admin API.
func (s *Set) ForGroup(groupID string) []*Key {
	var out []*Key
	for i := range s.keys {
		if _, ok := s.keys[i].groups[groupID]; ok {
			out = append(out, &s.keys[i])
		}
	}
	return out
}
