package admin

import (
	"slices"
	"strings"

	"github.com/torii-gateway/torii/internal/jsonx"
)

// entity is one stored document with its canonical encoding and ETag. It is immutable once built.
type entity struct {
	id   string
	doc  map[string]any
	raw  []byte
	etag string
}

func newEntity(id string, doc map[string]any) (*entity, error) {
	raw, err := jsonx.Encode(doc)
	if err != nil {
		return nil, err
	}
	return &entity{id: id, doc: doc, raw: raw, etag: jsonx.ETag(raw)}, nil
}

// state is the whole configuration: every entity of every kind plus the global config. A published
// state is never modified; writers clone it.
type state struct {
	ents   []map[string]*entity // by kindID
	global *entity              // nil: defaults
	// extra holds the top-level fields of an imported export that are neither entities nor the
	// config ("extensions"...), exported back as they came; nil when none.
	extra *entity
}

func newState() *state {
	st := &state{ents: make([]map[string]*entity, len(kinds))}
	for i := range st.ents {
		st.ents[i] = make(map[string]*entity)
	}
	return st
}

// clone copies the maps; entities are shared since they are immutable.
func (st *state) clone() *state {
	c := &state{global: st.global, extra: st.extra, ents: make([]map[string]*entity, len(st.ents))}
	for i, m := range st.ents {
		c.ents[i] = make(map[string]*entity, len(m))
		for k, v := range m {
			c.ents[i][k] = v
		}
	}
	return c
}

// sorted returns the entities of kind k ordered by id.
func (st *state) sorted(k kindID) []*entity {
	out := make([]*entity, 0, len(st.ents[k]))
	for _, e := range st.ents[k] {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *entity) int { return strings.Compare(a.id, b.id) })
	return out
}

// globalDoc returns the stored global config or the defaults.
func (st *state) globalDoc() map[string]any {
	if st.global != nil {
		return st.global.doc
	}
	return globalTemplate()
}

// empty reports whether st holds no entity (the global config aside).
func (st *state) empty() bool {
	for _, m := range st.ents {
		if len(m) > 0 {
			return false
		}
	}
	return true
}
