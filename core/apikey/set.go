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
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/quota"
)

// bearerPrefix starts an Otoroshi bearer token: otoapk_<clientId>_<hex hmac>.
const bearerPrefix = "otoapk_"

// Key is one compiled, immutable API key. Safe for concurrent readers.
//
// A Set may hold a million keys, so a Key is small: 256 bytes, plus one block holding every
// string it keeps (client id, name, secrets, bearer HMACs, authorized entities, tags, metadata)
// and one block of their string headers. It keeps only what is enforced or reported; the stored
// document is the admin's.
type Key struct {
	ClientID   string
	ClientName string
	Limits     quota.Limits
	ReadOnly   bool
	// AllowClientIDOnly lets the key authenticate with its client id alone
	// (x-api-key).
	AllowClientIDOnly bool

	enabled  bool
	nsecrets uint8
	// entities are the routes (the first nroutes) and then the groups the key is authorized
	// on: short lists (a map costs hundreds of bytes per key even with one entry, and a scan
	// of a few strings is as fast as a lookup).
	nroutes uint32
	// slot is the key's counters in Set.counters, bound at the key's first counted call
	// (Set.Count): a million keys of which few are used hold few slots, and compiling a key
	// takes no quota shard lock.
	slot       atomic.Pointer[quota.Slot]
	validUntil int64 // Unix ms; math.MaxInt64 when the key never expires
	entities   []string
	// The current secret, then the next one during rotation, and the HMAC-SHA256 of each's
	// Otoroshi bearer token (32 bytes each in macs).
	secrets [2]string
	macs    []byte
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
	ks, err := compileKeys(keys)
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
func compileKeys(keys []ApiKey) ([]*Key, error) {
	block := make([]Key, len(keys))
	out := make([]*Key, len(keys))
	for i := range keys {
		src := &keys[i]
		if err := src.Validate(); err != nil {
			return nil, err
		}
		k := &block[i]
		compileKey(k, src)
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
	ks, err := compileKeys(put)
	if err != nil {
		return nil, err
	}
	base := s.index
	if len(base.pages) == 0 {
		base = newIndex(len(put))
	}
	return &Set{index: base.with(ks, del), counters: s.counters}, nil
}

// WithKeys is With for keys compiled already (CompileOne, with the counters of s).
func (s *Set) WithKeys(put []*Key, del []string) *Set {
	base := s.index
	if len(base.pages) == 0 {
		base = newIndex(len(put))
	}
	return &Set{index: base.with(put, del), counters: s.counters}
}

func compileKey(k *Key, src *ApiKey) {
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
	var routes, groups []string
	for _, e := range entities {
		switch {
		case strings.HasPrefix(e, "route_"):
			routes = appendNew(routes, e[len("route_"):])
		case strings.HasPrefix(e, "service_"):
			// Legacy service descriptors become routes with the same id.
			routes = appendNew(routes, e[len("service_"):])
		case strings.HasPrefix(e, "group_"):
			groups = appendNew(groups, e[len("group_"):])
		default:
			groups = appendNew(groups, e)
		}
	}
	secrets := []string{src.ClientSecret}
	if r := src.Rotation; r.Enabled && r.NextSecret != nil && *r.NextSecret != "" && *r.NextSecret != src.ClientSecret {
		secrets = append(secrets, *r.NextSecret)
	}
	// The metadata in key order, as event.Pairs wants it, without building a Pairs to copy.
	metaKeys := make([]string, 0, 8)
	for mk := range src.Metadata {
		metaKeys = append(metaKeys, mk)
	}
	slices.Sort(metaKeys)

	// One block for the strings, one for the string headers.
	size := len(secrets)*sha256.Size + len(src.ClientID) + len(src.ClientName)
	for _, list := range [][]string{secrets, routes, groups, src.Tags} {
		for _, s := range list {
			size += len(s)
		}
	}
	for mk, mv := range src.Metadata {
		size += len(mk) + len(mv)
	}
	a := arena{b: make([]byte, 0, size)}
	hdr := make([]string, 0, len(routes)+len(groups)+len(src.Tags)+2*len(metaKeys))
	// since returns the headers appended from start on, nil when none.
	since := func(start int) []string {
		if start == len(hdr) {
			return nil
		}
		return hdr[start:len(hdr):len(hdr)]
	}
	strs := func(list []string) {
		for _, s := range list {
			hdr = append(hdr, a.str(s))
		}
	}
	for _, s := range secrets {
		a.b = appendBearerMAC(a.b, src.ClientID, s)
	}
	*k = Key{
		ClientID:          a.str(src.ClientID),
		ClientName:        a.str(src.ClientName),
		Limits:            src.Limits(),
		ReadOnly:          src.ReadOnly,
		AllowClientIDOnly: src.AllowClientIDOnly,
		enabled:           src.Enabled,
		nsecrets:          uint8(len(secrets)),
		nroutes:           uint32(len(routes)),
		validUntil:        math.MaxInt64,
		macs:              a.b[: len(secrets)*sha256.Size : len(secrets)*sha256.Size],
	}
	for i, s := range secrets {
		k.secrets[i] = a.str(s)
	}
	if src.ValidUntil != nil {
		k.validUntil = *src.ValidUntil
	}
	strs(routes)
	strs(groups)
	k.entities = since(0)
	start := len(hdr)
	strs(src.Tags)
	tags := since(start)
	start = len(hdr)
	for _, mk := range metaKeys {
		hdr = append(hdr, a.str(mk), a.str(src.Metadata[mk]))
	}
	k.identity = event.Identity{ClientID: k.ClientID, ClientName: k.ClientName, Tags: tags, Metadata: since(start)}
}

// routes returns the routes the key is authorized on, by id.
func (k *Key) routes() []string { return k.entities[:k.nroutes] }

// groups returns the groups the key is authorized on, by id.
func (k *Key) groups() []string { return k.entities[k.nroutes:] }

// Secret returns the key's current secret. Never log it.
func (k *Key) Secret() string { return k.secrets[0] }

// Metadata returns the key's metadata. Read-only.
func (k *Key) Metadata() event.Pairs { return k.identity.Metadata }

// Tags returns the key's tags. Read-only.
func (k *Key) Tags() []string { return k.identity.Tags }

// appendNew appends s to list unless it is there.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// appendBearerMAC appends the HMAC-SHA256 of an Otoroshi bearer token, "otoapk_<clientId>" keyed
// with the secret (the token is its prefix, "_" and this in hex). Loading a million keys computes
// a million of these: for the usual sizes it hashes two stack buffers (RFC 2104 with SHA-256's
// 64-byte block) instead of building an hmac.New per key.
func appendBearerMAC(dst []byte, clientID, secret string) []byte {
	const block = 64
	msgLen := len(bearerPrefix) + len(clientID)
	if len(secret) > block || msgLen > 192 {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(bearerPrefix + clientID))
		return m.Sum(dst)
	}
	var in [block + 192]byte
	var out [block + sha256.Size]byte
	copy(in[:], secret)
	copy(out[:], secret)
	for i := range block {
		in[i] ^= 0x36
		out[i] ^= 0x5c
	}
	copy(in[block+copy(in[block:], bearerPrefix):], clientID)
	inner := sha256.Sum256(in[:block+msgLen])
	copy(out[block:], inner[:])
	sum := sha256.Sum256(out[:])
	return append(dst, sum[:]...)
}

// BearerToken returns the Otoroshi bearer token of a key:
// "otoapk_<clientId>_" followed by the hex HMAC-SHA256 of "otoapk_<clientId>"
// keyed with the secret.
func BearerToken(clientID, secret string) string {
	return bearerPrefix + clientID + "_" + hex.EncodeToString(appendBearerMAC(nil, clientID, secret))
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
	if slices.Contains(k.routes(), routeID) {
		return true
	}
	for _, g := range routeGroups {
		if slices.Contains(k.groups(), g) {
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
		if slices.Contains(k.groups(), groupID) {
			out = append(out, k)
		}
	}
	return sortByID(out)
}

// CompileKey decodes (DecodeKey), validates and compiles one stored key. raw is only read during
// the call. Errors name the field. Keys compiled this way, by as many goroutines as there are
// cores, make a Set with NewSet or Set.WithKeys.
func CompileKey(raw []byte) (*Key, error) {
	src, err := DecodeKey(raw)
	if err != nil {
		return nil, fmt.Errorf("cannot decode apikey: %w", err)
	}
	return CompileOne(&src)
}

// CompileOne validates and compiles src. It keeps nothing of src. Errors name the client id and
// field.
func CompileOne(src *ApiKey) (*Key, error) {
	if err := src.Validate(); err != nil {
		return nil, err
	}
	k := &Key{}
	compileKey(k, src)
	return k, nil
}

// NewSet builds a Set of compiled keys (CompileKey) whose counters are counters (nil: none).
// Errors name a duplicate client id.
func NewSet(keys []*Key, counters *quota.Counters) (*Set, error) {
	s := &Set{index: newIndex(len(keys)), counters: counters}
	if dup, ok := s.index.build(keys); !ok {
		return nil, fmt.Errorf("cannot compile apikey %q: field clientId: %w", dup, ErrDuplicate)
	}
	return s, nil
}
