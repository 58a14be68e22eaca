package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/torii-gateway/torii/core/event"
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
	// Source is the entity the key was compiled from, without its Extra
	// fields. Read-only; it holds the secret, so never log it or put it in an
	// event.
	Source *ApiKey

	slot       *quota.Slot // the key's counters in Set.counters, when bound
	enabled    bool
	validUntil int64 // Unix ms; math.MaxInt64 when the key never expires
	// routes and groups the key is authorized on: short lists (a map costs hundreds of bytes
	// per key even with one entry, and a scan of a few strings is as fast as a lookup).
	routes   []string
	groups   []string
	nsecrets int
	// The current secret, then the next one during rotation, and the
	// Otoroshi bearer token of each, as bytes for constant-time comparison.
	secretBytes [2][]byte
	bearerBytes [2][]byte
	// identity is what events say about the key; built once per key, so a
	// snapshot needs no table of identities.
	identity event.Identity
}

// Identity returns the key's identity for events: immutable, shared by every
// event of the key; it never holds the secret.
func (k *Key) Identity() *event.Identity { return &k.identity }

// Set is an immutable compiled set of keys, indexed by client id. Safe for
// concurrent readers.
//
// A Set is persistent: With returns a new Set with some keys added, replaced
// or removed, sharing with the old one every key and every index page the
// change does not touch, so a change costs about the same at 1M keys as at
// 10 (see index).
//
// Every loop reads a Set on every request with a key, so its parts sit on
// cache lines no written object shares (see cacheLine): the struct is one
// line, and the index directory and pages have a line of padding on each
// side.
type Set struct {
	index    index
	counters *quota.Counters
	_        [cacheLine - unsafe.Sizeof(index{}) - unsafe.Sizeof((*quota.Counters)(nil))]byte
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
	ks, err := compileKeys(keys, opts.Counters)
	if err != nil {
		return nil, err
	}
	s := &Set{index: newIndex(len(ks)), counters: opts.Counters}
	if dup, ok := s.index.build(ks); !ok {
		return nil, fmt.Errorf("cannot compile apikey %q: field clientId: %w", dup, ErrDuplicate)
	}
	return s, nil
}

// compileKeys validates and compiles keys; the Key values are allocated
// together.
func compileKeys(keys []ApiKey, counters *quota.Counters) ([]*Key, error) {
	block := make([]Key, len(keys))
	out := make([]*Key, len(keys))
	for i := range keys {
		src := &keys[i]
		if err := src.Validate(); err != nil {
			return nil, err
		}
		k := &block[i]
		compileKey(k, src)
		if counters != nil {
			k.slot = counters.Slot(k.ClientID)
		}
		out[i] = k
	}
	return out, nil
}

// With returns a Set with the keys of put added or, when their client id is
// present, replaced, and the client ids of del removed (absent ones are
// ignored; an id both in put and del ends up put). s is unchanged. It validates put first and returns an error
// naming the client id and field, changing nothing. Its cost depends on the
// size of the change, not of the Set: it copies the index directory and the
// pages the change falls in. Quota counters are those of s. Off the event
// loops only.
func (s *Set) With(put []ApiKey, del []string) (*Set, error) {
	ks, err := compileKeys(put, s.counters)
	if err != nil {
		return nil, err
	}
	base := s.index
	if len(base.pages) == 0 {
		base = newIndex(len(put))
	}
	return &Set{index: base.with(ks, del), counters: s.counters}, nil
}

func compileKey(k *Key, src *ApiKey) {
	*k = Key{
		ClientID:          src.ClientID,
		ClientName:        src.ClientName,
		Limits:            src.Limits(),
		ReadOnly:          src.ReadOnly,
		AllowClientIDOnly: src.AllowClientIDOnly,
		Source:            trimmed(src),
		enabled:           src.Enabled,
		validUntil:        math.MaxInt64,
	}
	k.identity = event.Identity{ClientID: src.ClientID, ClientName: src.ClientName, Tags: src.Tags, Metadata: src.Metadata}
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
			k.routes = appendNew(k.routes, e[len("route_"):])
		case strings.HasPrefix(e, "service_"):
			// Legacy service descriptors become routes with the same id.
			k.routes = appendNew(k.routes, e[len("service_"):])
		case strings.HasPrefix(e, "group_"):
			k.groups = appendNew(k.groups, e[len("group_"):])
		default:
			k.groups = appendNew(k.groups, e)
		}
	}
	k.addSecret(src.ClientSecret)
	if r := src.Rotation; r.Enabled && r.NextSecret != nil && *r.NextSecret != "" && *r.NextSecret != src.ClientSecret {
		k.addSecret(*r.NextSecret)
	}
}

// appendNew appends s to list unless it is there.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return slices.Clip(append(list, s))
}

// trimmed returns a copy of src without Extra, the fields Torii does not know (restrictions,
// bearer...), which nothing reads after compiling and which weigh more than the rest of the key:
// at a million keys, the set would otherwise keep them all.
func trimmed(src *ApiKey) *ApiKey {
	c := *src
	c.Extra = nil
	return &c
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
func (s *Set) Len() int { return s.index.n }

// All yields every key, in no particular order. Meant for the admin API and
// for building per-snapshot tables; it does not allocate per key.
func (s *Set) All() iter.Seq[*Key] {
	return func(yield func(*Key) bool) { s.index.each(yield) }
}

// AuthorizedOn reports whether the key may call the route routeID, directly
// or through one of the route's groups.
func (k *Key) AuthorizedOn(routeID string, routeGroups []string) bool {
	if slices.Contains(k.routes, routeID) {
		return true
	}
	for _, g := range routeGroups {
		if slices.Contains(k.groups, g) {
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
// one of routeGroups, by client id (GET /api/routes/:rid/apikeys). It
// allocates; it is meant for the admin API.
func (s *Set) ForRoute(routeID string, routeGroups []string) []*Key {
	var out []*Key
	for k := range s.All() {
		if k.AuthorizedOn(routeID, routeGroups) {
			out = append(out, k)
		}
	}
	return sortByID(out)
}

// sortByID sorts keys by client id.
func sortByID(keys []*Key) []*Key {
	slices.SortFunc(keys, func(a, b *Key) int { return strings.Compare(a.ClientID, b.ClientID) })
	return keys
}

// ForGroup returns the keys authorized on group groupID, by client id
// (GET /api/groups/:gid/apikeys). It allocates; it is meant for the admin API.
func (s *Set) ForGroup(groupID string) []*Key {
	var out []*Key
	for k := range s.All() {
		if slices.Contains(k.groups, groupID) {
			out = append(out, k)
		}
	}
	return sortByID(out)
}
