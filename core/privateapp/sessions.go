package privateapp

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/torii-gateway/torii/httpparse"
	"go.etcd.io/bbolt"
)

// Sizes of a cookie value "<id>.<mac>".
const (
	idBytes  = 32                 // random bits of a session id: 256
	idLen    = 43                 // base64url (no padding) of idBytes
	macBytes = 16                 // HMAC-SHA256 truncated to 128 bits
	macLen   = 22                 // base64url of macBytes
	valueLen = idLen + 1 + macLen // the whole cookie value
	nShards  = 64                 // shards of the in-memory table
	maxUsers = 1 << 20            // sessions kept in memory at most: stops a login flood from eating the heap
	// maxPerUser bounds the sessions of one user of one module: a user who scripts logins
	// ends their own oldest sessions rather than filling the table.
	maxPerUser = 32
	cacheLn    = 64                       // bytes of a cache line, for shard padding
	shardPad   = cacheLn - 8 - 24%cacheLn // keeps two shards' locks off one line (RWMutex is 24 bytes, the map 8)
)

// Bucket names in the bbolt database.
var (
	bucketSessions = []byte("privateapps_sessions")
	bucketMeta     = []byte("privateapps_meta")
	keySecret      = []byte("cookie_secret")
)

// Sessions is the private-app session table. Create, Delete, Prune and
// Lookup may be called from any goroutine; Check runs on event loops.
type Sessions struct {
	secret []byte
	db     *bbolt.DB // nil: memory only
	shards [nShards]shard
	now    func() time.Time
	moduleTable

	// byUser lists the session ids of each (module, email), oldest first, for maxPerUser. Only
	// Create, Delete, Prune and Open touch it; loops never do.
	umu    sync.Mutex
	byUser map[string][]string
}

func userKey(u *User) string { return u.Module + "\x00" + u.Email }

// track records u's id for its user and returns the ids to end (past maxPerUser).
func (s *Sessions) track(u *User) []string {
	s.umu.Lock()
	defer s.umu.Unlock()
	if s.byUser == nil {
		s.byUser = map[string][]string{}
	}
	k := userKey(u)
	ids := append(s.byUser[k], u.ID)
	var over []string
	if len(ids) > maxPerUser {
		over = append(over, ids[:len(ids)-maxPerUser]...)
		ids = append([]string(nil), ids[len(ids)-maxPerUser:]...)
	}
	s.byUser[k] = ids
	return over
}

// untrack forgets id of u's user.
func (s *Sessions) untrack(u *User) {
	s.umu.Lock()
	defer s.umu.Unlock()
	k := userKey(u)
	ids := s.byUser[k]
	for i, id := range ids {
		if id == u.ID {
			ids = append(ids[:i:i], ids[i+1:]...)
			break
		}
	}
	if len(ids) == 0 {
		delete(s.byUser, k)
		return
	}
	s.byUser[k] = ids
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*User
	_  [shardPad]byte
}

// New returns a memory-only table whose cookies are signed with secret (at
// least 32 bytes; a random one when nil).
func New(secret []byte) *Sessions {
	if len(secret) < 32 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	s := &Sessions{secret: append([]byte(nil), secret...), now: time.Now}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*User)
	}
	return s
}

// Open returns a table persisted in db: it reads (or creates) the cookie
// secret and loads every session that has not expired. Call it off the
// loops, at start.
func Open(db *bbolt.DB) (*Sessions, error) {
	var secret []byte
	err := db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketSessions); err != nil {
			return err
		}
		if v := meta.Get(keySecret); len(v) >= 32 {
			secret = append([]byte(nil), v...)
			return nil
		}
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		return meta.Put(keySecret, secret)
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open the private-app session store: %w", err)
	}
	s := New(secret)
	s.db = db
	now := s.now()
	var stale [][]byte
	var loaded []*User
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			u := new(User)
			if json.Unmarshal(v, u) != nil || u.ID != string(k) || !now.Before(u.ExpiresAt) {
				stale = append(stale, append([]byte(nil), k...))
				return nil
			}
			u.finish()
			s.put(u)
			loaded = append(loaded, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cannot load the private-app sessions: %w", err)
	}
	sort.Slice(loaded, func(i, j int) bool { return loaded[i].CreatedAt.Before(loaded[j].CreatedAt) })
	for _, u := range loaded {
		for _, old := range s.track(u) {
			_ = s.Delete(old)
		}
	}
	if len(stale) > 0 {
		_ = db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketSessions)
			for _, k := range stale {
				_ = b.Delete(k)
			}
			return nil
		})
	}
	return s, nil
}

// Create stores a new session for u, which lasts maxAge, and returns the
// cookie value to send. The id is always fresh (a login never reuses an id
// the browser brought: no session fixation). It writes to the database
// before the session is visible, so it may block on disk: never call it on
// a loop.
func (s *Sessions) Create(u *User, maxAge time.Duration) (string, error) {
	if s.Len() >= maxUsers {
		s.Prune()
		if s.Len() >= maxUsers {
			return "", fmt.Errorf("cannot create a session: %d sessions already", maxUsers)
		}
	}
	var raw [idBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("cannot create a session id: %w", err)
	}
	u.ID = base64.RawURLEncoding.EncodeToString(raw[:])
	u.CreatedAt = s.now().UTC().Truncate(time.Millisecond)
	u.ExpiresAt = u.CreatedAt.Add(maxAge)
	u.finish()
	if err := s.store(u); err != nil {
		return "", err
	}
	s.put(u)
	for _, old := range s.track(u) {
		if err := s.Delete(old); err != nil {
			return "", err
		}
	}
	return u.ID + "." + u.mac, nil
}

// Replace stores u in place of the session with the same ID (a token
// refresh), keeping its expiry; it fails when that session is gone. Never
// call it on a loop.
func (s *Sessions) Replace(u *User) error {
	sh := s.shardOf(u.ID)
	sh.mu.RLock()
	old := sh.m[u.ID]
	sh.mu.RUnlock()
	if old == nil {
		return fmt.Errorf("cannot replace session: it ended")
	}
	u.CreatedAt, u.ExpiresAt = old.CreatedAt, old.ExpiresAt
	u.finish()
	if err := s.store(u); err != nil {
		return err
	}
	s.put(u)
	return nil
}

// store writes u to the database, if any.
func (s *Sessions) store(u *User) error {
	if s.db == nil {
		return nil
	}
	v, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("cannot encode session: %w", err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSessions)
		if err != nil {
			return err
		}
		return b.Put([]byte(u.ID), v)
	})
	if err != nil {
		return fmt.Errorf("cannot store session: %w", err)
	}
	return nil
}

// put makes u visible to Check, with the MAC its cookie must carry.
func (s *Sessions) put(u *User) {
	u.mac = s.mac(u.Module, u.ID)
	sh := s.shardOf(u.ID)
	sh.mu.Lock()
	sh.m[u.ID] = u
	sh.mu.Unlock()
}

// mac is the MAC part of the cookie of session id of module: HMAC-SHA256
// under the store's secret, truncated to 128 bits, base64url.
func (s *Sessions) mac(module, id string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(module))
	m.Write([]byte{0})
	m.Write([]byte(id))
	sum := m.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:macBytes])
}

// Lookup returns the live session of a cookie value for module. Off the
// loops (it allocates); loops use Check.
func (s *Sessions) Lookup(module, value string) (*User, bool) {
	u := s.verify(module, []byte(value), s.now().UnixNano())
	return u, u != nil
}

// Delete ends a session (logout): gone from memory at once, then from disk.
// Deleting an unknown id is not an error. Never call it on a loop.
func (s *Sessions) Delete(id string) error {
	sh := s.shardOf(id)
	sh.mu.Lock()
	u := sh.m[id]
	delete(sh.m, id)
	sh.mu.Unlock()
	if u != nil {
		s.untrack(u)
	}
	if s.db == nil {
		return nil
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketSessions); b != nil {
			return b.Delete([]byte(id))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot delete session: %w", err)
	}
	return nil
}

// Prune drops expired sessions from memory and disk and returns how many.
func (s *Sessions) Prune() int {
	now := s.now().UnixNano()
	var gone []string
	for i := range s.shards {
		// Find under the read lock (loops keep checking meanwhile), delete under the write lock
		// one id at a time: a loop never waits behind a scan of the whole shard.
		sh := &s.shards[i]
		start := len(gone)
		sh.mu.RLock()
		for id, u := range sh.m {
			if u.Expired(now) {
				gone = append(gone, id)
			}
		}
		sh.mu.RUnlock()
		for _, id := range gone[start:] {
			sh.mu.Lock()
			u := sh.m[id]
			delete(sh.m, id)
			sh.mu.Unlock()
			if u != nil {
				s.untrack(u)
			}
		}
	}
	if s.db != nil && len(gone) > 0 {
		_ = s.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketSessions)
			if b == nil {
				return nil
			}
			for _, id := range gone {
				_ = b.Delete([]byte(id))
			}
			return nil
		})
	}
	return len(gone)
}

// Len is the number of sessions in memory (expired ones included until
// Prune).
func (s *Sessions) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// List returns the live sessions, for the admin API (copy the fields you
// show; never show the tokens).
func (s *Sessions) List() []*User {
	now := s.now().UnixNano()
	var out []*User
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, u := range sh.m {
			if !u.Expired(now) {
				out = append(out, u)
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

// shardOf returns the shard of a session id: ids are random, so two of
// their characters spread them evenly.
func (s *Sessions) shardOf(id string) *shard {
	if len(id) < 2 {
		return &s.shards[0]
	}
	return s.shardAt(id[len(id)-1], id[len(id)-2])
}

func (s *Sessions) shardAt(last, prev byte) *shard {
	return &s.shards[(last^prev<<3)%nShards]
}

// Check returns the live session of module named by the request's cookie
// cookieName, or nil. now is Unix ns. It runs on a loop: no allocation, no
// I/O, no hashing (the MAC each session's cookie must carry is computed
// when the session is stored), shard read locks held only for one map
// lookup. req and buf are only read during the call.
func (s *Sessions) Check(module, cookieName string, req *httpparse.Request, buf []byte, now int64) *User {
	for i := range req.Headers {
		h := &req.Headers[i]
		if !httpparse.EqualFold(h.Name.Bytes(buf), "cookie") {
			continue
		}
		v := h.Value.Bytes(buf)
		for len(v) > 0 {
			var pair []byte
			pair, v, _ = bytes.Cut(v, semicolon)
			k, val, _ := bytes.Cut(bytes.TrimSpace(pair), equals)
			if string(k) != cookieName {
				continue
			}
			if u := s.verify(module, val, now); u != nil {
				return u
			}
		}
	}
	return nil
}

// verify looks a cookie value's id up and checks its MAC against the
// session's (constant time): a forged or truncated MAC, a session of
// another module or an expired one gives nil. Ids are 256 random bits, so
// the lookup before the MAC check tells an attacker nothing usable.
func (s *Sessions) verify(module string, val []byte, now int64) *User {
	if len(val) != valueLen || val[idLen] != '.' {
		return nil
	}
	id, mac := val[:idLen], val[idLen+1:]
	sh := s.shardAt(id[idLen-1], id[idLen-2])
	sh.mu.RLock()
	u := sh.m[string(id)]
	sh.mu.RUnlock()
	if u == nil || subtle.ConstantTimeCompare(unsafeBytes(u.mac), mac) != 1 || u.Module != module || u.Expired(now) {
		return nil
	}
	return u
}

var (
	semicolon = []byte{';'}
	equals    = []byte{'='}
)
