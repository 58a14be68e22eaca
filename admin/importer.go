package admin

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/internal/pmap"
	"github.com/torii-gateway/torii/otoroshi"
	"go.etcd.io/bbolt"
)

// buildImport turns an Otoroshi export into a complete state and its report. It is all or
// nothing: any invalid entity makes it fail with the fields named by array index.
func buildImport(doc map[string]any, maxEntities int) (*state, *otoroshi.Report, error) {
	im := newImporter(maxEntities)
	im.rd.Backends(doc["backends"])
	for _, k := range otoroshi.Kinds {
		v := doc[k.Array]
		if v == nil {
			continue
		}
		l, ok := v.([]any)
		if !ok {
			im.rd.NotArray(k.Array)
			continue
		}
		if len(l) > maxEntities {
			im.rd.TooMany(k.Array, len(l))
			continue
		}
		for i, v := range l {
			im.entity(k.Array, i, v)
		}
	}
	for name, v := range doc {
		im.rd.TopLevel(name, v)
	}
	return im.finish()
}

// importer builds the state of an imported export one entity at a time: buildImport hands it a
// decoded document, readImport the elements of a request body as they are decoded. Each entity
// is validated, converted and encoded as it comes; the state is assembled by finish.
type importer struct {
	rd *otoroshi.Reader
	c  *checker
	// accepted are, by kind, the valid entities in the order they came, with their index in
	// their array (finish sorts them by id and names the duplicates).
	accepted [][]acceptedEntity
	// stage, when set, receives the routes and API keys as they are read (streamed imports);
	// stageErr is its first failure.
	stage    *stager
	stageErr error
}

type acceptedEntity struct {
	e     *entity
	index int
}

func newImporter(maxEntities int) *importer {
	return &importer{rd: otoroshi.NewReader(maxEntities), c: &checker{}, accepted: make([][]acceptedEntity, len(kinds))}
}

// entity reads element i of the export array: converted, defaults filled, validated (errors name
// the array, the index and the field) and encoded.
func (im *importer) entity(array string, i int, v any) {
	ie, ok := im.rd.Entity(array, i, v)
	if !ok {
		return
	}
	k, d, path := kindByArray[ie.Array], ie.Doc, ie.Path()
	fillDefaults(d, k.defaults)
	if k.id == kKeys {
		normalizeKey(d)
	}
	sub := &checker{}
	k.check(sub, d)
	for _, fe := range sub.errs {
		im.c.add(path+"."+fe.Field, "%s", fe.Message)
	}
	if len(sub.errs) > 0 {
		return
	}
	e, err := newEntity(d[k.idField].(string), d)
	if err != nil {
		im.c.add(path, "%s", err.Error())
		return
	}
	if im.stage != nil && coldKind(k) {
		// Written to the staging bucket now; only its id is kept (a cold entity).
		if e, err = im.stage.add(k, e, im.failed()); err != nil {
			im.stageErr = cmp.Or(im.stageErr, err)
			return
		}
	}
	im.accepted[k.id] = append(im.accepted[k.id], acceptedEntity{e, i})
}

// failed reports whether the import already has an error: it will store nothing.
func (im *importer) failed() bool { return len(im.c.errs) > 0 || im.rd.Failed() }

// tooMany refuses the array, found to hold n entities, more than the limit: what was read of it
// is forgotten, as a list refused before reading it.
func (im *importer) tooMany(array string, n int) {
	im.rd.TooMany(array, n)
	prefix := array + "["
	im.c.errs = slices.DeleteFunc(im.c.errs, func(fe FieldError) bool { return strings.HasPrefix(fe.Field, prefix) })
	im.accepted[kindByArray[array].id] = nil
}

// finish assembles the imported state: each kind's entities sorted by id (the first of a
// duplicated id is kept, the others are errors), the global config and the export's other
// fields. Any error refuses the whole import.
func (im *importer) finish() (*state, *otoroshi.Report, error) {
	if im.stage != nil {
		if err := im.stage.flushAll(im.failed()); err != nil {
			im.stageErr = cmp.Or(im.stageErr, err)
		}
	}
	if im.stageErr != nil {
		return nil, nil, im.stageErr
	}
	res := im.rd.Finish()
	c := im.c
	for _, p := range res.Problems {
		c.add(p.Field, "%s", p.Message)
	}
	st := newState()
	for kid, acc := range im.accepted {
		k := kinds[kid]
		slices.SortFunc(acc, func(a, b acceptedEntity) int {
			return cmp.Or(strings.Compare(a.e.id, b.e.id), cmp.Compare(a.index, b.index))
		})
		ids := make([]string, 0, len(acc))
		ents := make([]*entity, 0, len(acc))
		for j, a := range acc {
			if j > 0 && a.e.id == acc[j-1].e.id {
				c.add(k.array+"["+strconv.Itoa(a.index)+"]."+k.idField, "duplicate id %q", a.e.id)
				continue
			}
			ids, ents = append(ids, a.e.id), append(ents, a.e)
		}
		im.accepted[kid] = nil
		st.ents[kid] = pmap.Build(ids, ents)
	}
	if cfg := res.Config; cfg != nil {
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
	if len(res.Extra) > 0 {
		if e, err := newEntity(metaExtra, res.Extra); err != nil {
			c.add("export", "%s", err.Error())
		} else {
			st.extra = e
		}
	}
	if len(c.errs) > 0 {
		sort.SliceStable(c.errs, func(i, j int) bool { return c.errs[i].Field < c.errs[j].Field })
		return nil, nil, &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.import",
			Message: "the export is not valid; nothing was imported", Fields: c.errs}
	}
	return st, res.Report, nil
}

// importTimeout bounds the reading, processing and answer of one import.
const importTimeout = 30 * time.Minute

// handleImport replaces the whole configuration with an Otoroshi export, all or nothing. The
// body streams (importstream.go): read and validated one entity at a time, staged in bbolt in
// batches, swapped in and published once.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) error {
	if err := checkBodyType(r, false); err != nil {
		return err
	}
	// The server's 60 s read and write timeouts bound requests that hold a body in memory; an
	// import is read while it is processed, which takes minutes for a million entities on a
	// busy machine (it is authenticated by now, and its size is capped by MaxImportBytes).
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(importTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(importTimeout))
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxImportBytes)
	s.importMu.Lock()
	defer s.importMu.Unlock()
	sg, err := s.newStager()
	if err != nil {
		return err
	}
	dropStaging := func() {
		if derr := s.dropStaging(); derr != nil {
			s.log.Error("cannot drop the staging buckets of a refused import", "err", derr)
		}
	}
	imported, rep, err := readImport(body, s.opts.MaxImportEntities, sg)
	if err != nil {
		dropStaging()
		return importBodyError(body, err, s.opts.MaxImportBytes)
	}
	swapIn, err := sg.finish(imported)
	if err != nil {
		dropStaging()
		return err
	}
	var undos []func()
	c, err := s.write(func(st *state, ws *writeSet) error {
		if m := r.Header.Get("If-Match"); m != "" && !jsonx.IfMatch(m, stateETag(st), true) {
			return errPrecondition()
		}
		for id := range st.ents[kKeys].All() {
			if !imported.ents[kKeys].Has(id) {
				undos = append(undos, s.forgetQuota(ws, id))
			}
		}
		ws.reset, ws.staged = entityBuckets(), true
		ws.committed = append(ws.committed, swapIn)
		st.ents = imported.ents
		st.global = imported.global
		st.extra = imported.extra
		ws.changes = append(ws.changes, importChanges(imported, false)...)
		s.audit(ws, r, "FULL_OTOROSHI_IMPORT", "", nil, map[string]any{"imported": rep.Imported},
			"imported a whole configuration")
		return nil
	})
	if err != nil {
		for _, undo := range undos {
			undo()
		}
		dropStaging()
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
// emptied (with its entities) or replaced by the staged ones (without).
func importChanges(next *state, entities bool) []change {
	var out []change
	for _, k := range kinds {
		if !entities {
			break
		}
		for _, e := range next.sorted(k.id) {
			out = append(out, change{bucket: k.bucket, key: e.id, value: e.bytes()})
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
	ws := &writeSet{reset: entityBuckets(), changes: importChanges(next, true)}
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
