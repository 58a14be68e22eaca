package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/otoroshi"
	"go.etcd.io/bbolt"
)

// buildImport turns an Otoroshi export into a complete state and its report. It is all or
// nothing: any invalid entity makes it fail with the fields named by array index.
func buildImport(doc map[string]any, maxEntities int) (*state, *otoroshi.Report, error) {
	im := otoroshi.Read(doc, maxEntities)
	st := newState()
	c := &checker{}
	for _, p := range im.Problems {
		c.add(p.Field, "%s", p.Message)
	}
	for _, ie := range im.Entities {
		k, d, path := kindByArray[ie.Array], ie.Doc, ie.Path()
		fillDefaults(d, k.defaults)
		if k.id == kKeys {
			normalizeKey(d)
		}
		sub := &checker{}
		k.check(sub, d)
		for _, fe := range sub.errs {
			c.add(path+"."+fe.Field, "%s", fe.Message)
		}
		if len(sub.errs) > 0 {
			continue
		}
		id := d[k.idField].(string)
		if st.ents[k.id].Has(id) {
			c.add(path+"."+k.idField, "duplicate id %q", id)
			continue
		}
		e, err := newEntity(id, d)
		if err != nil {
			c.add(path, "%s", err.Error())
			continue
		}
		st.ents[k.id] = st.ents[k.id].Set(id, e)
	}
	if cfg := im.Config; cfg != nil {
		fillDefaults(cfg, globalDefaults)
		sub := &checker{}
		checkGlobal(sub, cfg)
		for _, fe := range sub.errs {
			c.add("config."+fe.Field, "%s", fe.Message)
		}
		if e, err := newEntity(globalKey, cfg); err != nil {
			c.add("config", "%s", err.Error())
		} else {
			st.global = e
		}
	}
	if len(im.Extra) > 0 {
		if e, err := newEntity(metaExtra, im.Extra); err != nil {
			c.add("export", "%s", err.Error())
		} else {
			st.extra = e
		}
	}
	if len(c.errs) > 0 {
		sort.Slice(c.errs, func(i, j int) bool { return c.errs[i].Field < c.errs[j].Field })
		return nil, nil, &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.import",
			Message: "the export is not valid; nothing was imported", Fields: c.errs}
	}
	return st, im.Report, nil
}

// handleImport replaces the whole configuration with an Otoroshi export, all or nothing.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, s.opts.MaxImportBytes, false)
	if err != nil {
		return err
	}
	doc, err := jsonx.DecodeObject(body)
	if err != nil {
		return errBadRequest(err.Error())
	}
	imported, rep, err := buildImport(doc, s.opts.MaxImportEntities)
	if err != nil {
		return err
	}
	var undos []func()
	c, err := s.write(func(st *state, ws *writeSet) error {
		if !jsonx.IfMatch(r.Header.Get("If-Match"), stateETag(st), true) {
			return errPrecondition()
		}
		for id := range st.ents[kKeys].All() {
			if !imported.ents[kKeys].Has(id) {
				undos = append(undos, s.forgetQuota(ws, id))
			}
		}
		ws.reset = entityBuckets()
		st.ents = imported.ents
		st.global = imported.global
		st.extra = imported.extra
		ws.changes = append(ws.changes, importChanges(imported)...)
		s.audit(ws, r, "FULL_OTOROSHI_IMPORT", "", nil, map[string]any{"imported": rep.Imported},
			"imported a whole configuration")
		return nil
	})
	if err != nil {
		for _, undo := range undos {
			undo()
		}
		return err
	}
	// The names of the new configuration resolve in the background; wait a little for their
	// first answers so that the report names those that do not resolve.
	s.primeNames(c.routes, importDNSWait)
	s.reportRouteWarnings(rep, c)
	adminKeysNote(s.cur.Load(), rep)
	rep.Sort()
	return s.writeValue(w, http.StatusOK, rep)
}

// importChanges are the bbolt writes that store an imported state, after entityBuckets were
// emptied.
func importChanges(next *state) []change {
	var out []change
	for _, k := range kinds {
		for _, e := range next.sorted(k.id) {
			out = append(out, change{bucket: k.bucket, key: e.id, value: e.raw})
		}
	}
	if next.global != nil {
		out = append(out, change{bucket: bucketGlobal, key: globalKey, value: next.global.raw})
	}
	if next.extra != nil {
		out = append(out, change{bucket: bucketMeta, key: metaExtra, value: next.extra.raw})
	} else {
		out = append(out, change{bucket: bucketMeta, key: metaExtra})
	}
	return out
}

// stateETag identifies the whole configuration: the export without its dates (jsonx.ETag of its
// encoding, hashed as writeExport streams it: no copy of a million entities).
func stateETag(st *state) string {
	h := sha256.New()
	if err := writeExport(h, st, time.Time{}); err != nil {
		panic("BUG: state does not encode: " + err.Error())
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`
}

// seed imports opts.Seed into an empty database at first start, through the same path as
// POST /api/otoroshi.json (validate, compile, one transaction, an audit event).
func (s *Server) seed(cur *state, data []byte) (*state, error) {
	v, err := jsonx.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("cannot decode seed configuration: %w", err)
	}
	doc, ok := v.(map[string]any)
	if list, isList := v.([]any); isList {
		doc, ok = map[string]any{"routes": list}, true
	}
	if !ok {
		return nil, fmt.Errorf("cannot use seed configuration: %w", ErrBadSeed)
	}
	next, rep, err := buildImport(doc, s.opts.MaxImportEntities)
	if err != nil {
		return nil, fmt.Errorf("cannot import seed configuration: %w", err)
	}
	if _, err := s.compiler.compile(next, 1); err != nil {
		return nil, fmt.Errorf("cannot compile seed configuration: %w", err)
	}
	ws := &writeSet{reset: entityBuckets(), changes: importChanges(next)}
	if next.global == nil {
		next.global = cur.global
		if cur.global != nil {
			ws.changes = append(ws.changes, change{bucket: bucketGlobal, key: globalKey, value: cur.global.raw})
		}
	}
	ev, err := jsonx.Encode(map[string]any{"@type": "AuditEvent", "@id": newUUID(), "@timestamp": time.Now().UnixMilli(),
		"@product": "torii", "audit": "AdminApiEvent", "action": "SEED_IMPORT", "who": "torii", "from": "",
		"message": "imported the seed configuration at first start", "after": map[string]any{"imported": rep.Imported}})
	if err != nil {
		return nil, err
	}
	ws.audits = append(ws.audits, ev)
	ws.changes = append(ws.changes, change{bucket: bucketMeta, key: metaSeeded, value: []byte("1")})
	if err := commit(s.db, ws.reset, ws.changes, ws.audits); err != nil {
		return nil, err
	}
	s.log.Info("imported the seed configuration", "routes", next.ents[kRoutes].Len(), "groups", next.ents[kGroups].Len(), "apikeys", next.ents[kKeys].Len())
	return next, nil
}

// seeded reports whether a seed was ever imported into db.
func seeded(db *bbolt.DB) bool {
	done := false
	_ = db.View(func(tx *bbolt.Tx) error {
		done = tx.Bucket([]byte(bucketMeta)).Get([]byte(metaSeeded)) != nil
		return nil
	})
	return done
}
