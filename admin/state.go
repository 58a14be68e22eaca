package admin

import (
	"bytes"
	"sync/atomic"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/internal/pmap"
	"go.etcd.io/bbolt"
)

// entity is one stored document: its canonical encoding, as stored in bbolt, and its ETag. It is
// immutable once built. The decoded document is not kept (doc decodes it on demand): at a million
// API keys the maps would take several KiB each, ten times the encoding.
//
// The routes and API keys loaded at start are cold: raw is nil and the encoding stays in bbolt,
// whose file is mapped in memory and not in the Go heap; bytes reads it when needed (a GET, a page
// of a list, a compile, an export). At a million keys that leaves about 450 bytes per key out of
// the heap. Entities written since start are hot (raw kept): they are few. A cold entity read
// through a state older than bbolt's (a write committed in between) shows the newer stored
// document, or nothing when the write deleted it.
type entity struct {
	id   string
	raw  []byte // nil when cold
	etag string // "" when cold
	cold *coldStore
}

// coldStore is where the cold entities of one kind are read.
type coldStore struct {
	db     *bbolt.DB
	bucket []byte
	// staged: the entities are those of an import not swapped in yet, read in the import's
	// staging bucket (importstream.go); the import clears it once its transaction committed,
	// before its state is made current.
	staged atomic.Bool
}

// coldKind reports whether the entities of k are cold once stored (loaded at start, imported).
func coldKind(k *kind) bool { return k.id == kKeys || k.id == kRoutes }

// in returns the bucket of the store in tx, or nil.
func (cs *coldStore) in(tx *bbolt.Tx) *bbolt.Bucket {
	if cs.staged.Load() {
		if st := tx.Bucket([]byte(stagingBucket)); st != nil {
			return st.Bucket(cs.bucket)
		}
		return nil
	}
	return tx.Bucket(cs.bucket)
}

func newEntity(id string, doc map[string]any) (*entity, error) {
	raw, err := jsonx.Encode(doc)
	if err != nil {
		return nil, err
	}
	return &entity{id: id, raw: raw, etag: jsonx.ETag(raw)}, nil
}

// bytes returns the entity's encoding, read from bbolt when the entity is cold (a copy the caller
// may keep); nil when a cold entity is no longer stored. Many entities are read with a reader.
func (e *entity) bytes() []byte {
	if e.cold == nil {
		return e.raw
	}
	var out []byte
	_ = e.cold.db.View(func(tx *bbolt.Tx) error {
		if b := e.cold.in(tx); b != nil {
			out = bytes.Clone(b.Get([]byte(e.id)))
		}
		return nil
	})
	return out
}

// tag returns the ETag of raw, the encoding bytes (or a reader) returned for e.
func (e *entity) tag(raw []byte) string {
	if e.cold == nil {
		return e.etag
	}
	return jsonx.ETag(raw)
}

// read returns the encoding and ETag of e; nil when a cold entity is no longer stored.
func (e *entity) read() ([]byte, string) {
	raw := e.bytes()
	return raw, e.tag(raw)
}

// doc returns the entity's document, decoded from its encoding: a fresh map the caller may change;
// nil when a cold entity is no longer stored.
func (e *entity) doc() map[string]any {
	raw := e.bytes()
	if raw == nil {
		return nil
	}
	d, err := jsonx.DecodeObject(raw)
	if err != nil {
		panic("BUG: an entity's encoding does not decode: " + err.Error())
	}
	return d
}

// reader reads the encodings of many entities through one bbolt read transaction, opened at the
// first cold entity. Entities read in id order (a list, a compile's range) are found by stepping a
// cursor, not by a search from the root each. Close it before any write transaction of the same
// goroutine (bbolt may wait for readers to remap its file).
type reader struct {
	tx    *bbolt.Tx
	cur   *bbolt.Cursor
	store *coldStore // the cursor's
}

// bytes returns the encoding of e; for a cold entity, bbolt's memory, valid until close (copy it
// to keep it); nil when a cold entity is no longer stored.
func (rd *reader) bytes(e *entity) []byte {
	if e.cold == nil {
		return e.raw
	}
	if rd.tx == nil {
		tx, err := e.cold.db.Begin(false)
		if err != nil {
			return nil // the database is closed: the server is stopping
		}
		rd.tx = tx
	}
	if rd.cur == nil || rd.store != e.cold {
		b := e.cold.in(rd.tx)
		if b == nil {
			return nil
		}
		rd.cur, rd.store = b.Cursor(), e.cold
		if k, v := rd.cur.Seek([]byte(e.id)); string(k) == e.id {
			return v
		}
		return nil
	}
	if k, v := rd.cur.Next(); string(k) == e.id { // the next id: the common case
		return v
	}
	if k, v := rd.cur.Seek([]byte(e.id)); string(k) == e.id {
		return v
	}
	return nil
}

// close ends the read transaction, if one was opened.
func (rd *reader) close() {
	if rd.tx != nil {
		_ = rd.tx.Rollback()
		rd.tx, rd.cur = nil, nil
	}
}

// state is the whole configuration: every entity of every kind plus the global config. A published
// state is never modified; writers clone it. Each kind is a persistent map (internal/pmap): a
// clone costs O(1) and a change O(log n), whatever the number of entities, and the two states
// share every entity and tree node the change did not touch.
type state struct {
	ents   []pmap.Map[*entity] // by kindID
	global *entity             // nil: defaults
	// extra holds the top-level fields of an imported export that are neither entities nor the
	// config ("extensions"...), exported back as they came; nil when none.
	extra *entity
}

func newState() *state { return &state{ents: make([]pmap.Map[*entity], len(kinds))} }

// clone returns a copy that a writer may change; it shares everything with st.
func (st *state) clone() *state {
	c := *st
	c.ents = append([]pmap.Map[*entity](nil), st.ents...)
	return &c
}

// sorted returns the entities of kind k ordered by id.
func (st *state) sorted(k kindID) []*entity { return st.ents[k].Values() }

// globalDoc returns the stored global config or the defaults.
func (st *state) globalDoc() map[string]any {
	if st.global != nil {
		return st.global.doc()
	}
	return globalTemplate()
}

// empty reports whether st holds no entity (the global config aside).
func (st *state) empty() bool {
	for _, m := range st.ents {
		if m.Len() > 0 {
			return false
		}
	}
	return true
}
