package admin

import (
	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/internal/pmap"
)

// entity is one stored document: its canonical encoding, as stored in bbolt, and its ETag. It is
// immutable once built. The decoded document is not kept (doc decodes it on demand): at a million
// API keys the maps would take several KiB each, ten times the encoding.
type entity struct {
	id   string
	raw  []byte
	etag string
}

func newEntity(id string, doc map[string]any) (*entity, error) {
	raw, err := jsonx.Encode(doc)
	if err != nil {
		return nil, err
	}
	return &entity{id: id, raw: raw, etag: jsonx.ETag(raw)}, nil
}

// doc returns the entity's document, decoded from its encoding: a fresh map the caller may change.
func (e *entity) doc() map[string]any {
	d, err := jsonx.DecodeObject(e.raw)
	if err != nil {
		panic("BUG: an entity's encoding does not decode: " + err.Error())
	}
	return d
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
