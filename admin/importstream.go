package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/otoroshi"
	"go.etcd.io/bbolt"
)

// An import streams (handleImport): the body is read member by member with a token decoder
// (jsonx.ObjectReader), each entity is decoded, converted, validated and encoded on its own
// (importer), so the document is never held, decoded or not. The routes and API keys are written
// into staging buckets as they come, in transactions of about stageBytes sorted by id (bbolt holds
// the dirty pages of one batch), and only their ids stay in memory: they are cold entities (see
// entity), read in staging until the swap; the other kinds, few, are staged at the end. One last
// transaction swaps the staging buckets for the live ones (bbolt MoveBucket: no copy), with the
// global config, the audit event and the quota records of the keys that are gone. A refused
// import, or a crash before the swap, leaves the previous state stored and published; staging is
// dropped (at the next start after a crash).

// stagingBucket holds, while an import is written, one child bucket per entity kind.
const stagingBucket = "import-staging"

// stageBatch is the number of entities written per staging transaction at the end; the routes
// and API keys are written as they are read, about stageBytes of encodings per transaction.
const (
	stageBatch = 16384
	stageBytes = 8 << 20
)

// readImport reads an Otoroshi export from body one entity at a time (see the note above) and
// returns what buildImport returns for the decoded document: the same state, report and
// errors. With sg, the routes and API keys are staged as they are read and are cold in the
// state. A route with a backend_ref that comes before the export's "backends" (Otoroshi
// writes routes first) waits for them.
func readImport(body io.Reader, maxEntities int, sg *stager) (*state, *otoroshi.Report, error) {
	or, err := jsonx.NewObjectReader(body)
	if err != nil {
		return nil, nil, err
	}
	im := newImporter(maxEntities)
	im.stage = sg
	type pending struct {
		index int
		doc   any
	}
	var deferred []pending
	backendsRead := false
	for {
		name, ok, err := or.Next()
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		if _, isKind := otoroshi.KindOf(name); !isKind {
			v, err := or.Value()
			if err != nil {
				return nil, nil, err
			}
			im.rd.TopLevel(name, v)
			continue
		}
		n := 0
		v, isArray, err := or.Elements(func(i int, v any) error {
			n++
			if name == "backends" {
				im.rd.AddBackend(v)
			}
			switch {
			case n > maxEntities: // counted only: the list is refused at its end
			case name == otoroshi.ArrayRoutes && !backendsRead && hasBackendRef(v):
				deferred = append(deferred, pending{i, v})
			default:
				im.entity(name, i, v)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		switch {
		case !isArray && v != nil:
			im.rd.NotArray(name)
		case n > maxEntities:
			im.tooMany(name, n)
			if name == otoroshi.ArrayRoutes {
				deferred = nil
			}
		}
		if name == "backends" {
			backendsRead = true
		}
	}
	for _, p := range deferred {
		im.entity(otoroshi.ArrayRoutes, p.index, p.doc)
	}
	return im.finish()
}

// hasBackendRef reports whether a route document references a stored backend.
func hasBackendRef(v any) bool {
	m, _ := v.(map[string]any)
	ref, _ := m["backend_ref"].(string)
	return ref != ""
}

// importBodyError is the answer to an import body that could not be read: 413 when it is over
// the limit (also when the JSON error came first, as when the body was read before decoding),
// 400 naming the JSON error otherwise.
func importBodyError(body io.Reader, err error, limit int64) error {
	var ae *APIError
	if errors.As(err, &ae) {
		return err
	}
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		_, derr := io.Copy(io.Discard, body)
		if !errors.As(derr, &mbe) {
			return errBadRequest(err.Error())
		}
	}
	return errTooLarge(limit)
}

// stager writes an import into the staging buckets: the routes and API keys as they are read
// (add), in transactions of about stageBytes sorted by id, so that only their ids stay in memory
// (cold entities, read in staging until the swap); the other kinds, few, at the end (finish).
type stager struct {
	db      *bbolt.DB
	stores  []*coldStore // by kind, for the cold kinds
	pending [][]*entity  // by kind
	bytes   int
}

// newStager replaces any staging left by an import that did not finish by empty staging buckets.
func (s *Server) newStager() (*stager, error) {
	if err := s.dropStaging(); err != nil {
		return nil, err
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		root, err := tx.CreateBucket([]byte(stagingBucket))
		if err != nil {
			return err
		}
		for _, k := range kinds {
			if _, err := root.CreateBucket([]byte(k.bucket)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot create the import's staging buckets: %w", err)
	}
	sg := &stager{db: s.db, stores: make([]*coldStore, len(kinds)), pending: make([][]*entity, len(kinds))}
	for _, k := range kinds {
		if coldKind(k) {
			cs := &coldStore{db: s.db, bucket: []byte(k.bucket)}
			cs.staged.Store(true)
			sg.stores[k.id] = cs
		}
	}
	return sg, nil
}

// add stages e, of a cold kind, and returns the cold entity that stands for it. An import that
// already failed stores nothing: e is dropped.
func (sg *stager) add(k *kind, e *entity, failed bool) (*entity, error) {
	stub := &entity{id: e.id, cold: sg.stores[k.id]}
	if !failed {
		sg.pending[k.id] = append(sg.pending[k.id], e)
		if sg.bytes += len(e.raw); sg.bytes >= stageBytes {
			return stub, sg.flushAll(false)
		}
	}
	return stub, nil
}

// flushAll writes the pending entities in one transaction (none when the import failed).
func (sg *stager) flushAll(failed bool) error {
	defer func() {
		for i := range sg.pending {
			sg.pending[i] = sg.pending[i][:0]
		}
		sg.bytes = 0
	}()
	if failed || sg.bytes == 0 {
		return nil
	}
	return sg.db.Update(func(tx *bbolt.Tx) error {
		for kid, batch := range sg.pending {
			if err := putSorted(tx, kinds[kid], batch); err != nil {
				return err
			}
		}
		return nil
	})
}

// putSorted writes batch, sorted by id, into the staging bucket of k.
func putSorted(tx *bbolt.Tx, k *kind, batch []*entity) error {
	if len(batch) == 0 {
		return nil
	}
	slices.SortFunc(batch, func(a, b *entity) int { return strings.Compare(a.id, b.id) })
	b := tx.Bucket([]byte(stagingBucket)).Bucket([]byte(k.bucket))
	if last, _ := b.Cursor().Last(); last == nil || string(last) < batch[0].id {
		b.FillPercent = 0.9 // appended in key order: pages filled, not split in halves
	}
	for _, e := range batch {
		if err := b.Put([]byte(e.id), e.raw); err != nil {
			return fmt.Errorf("cannot stage %s/%s: %w", k.bucket, e.id, err)
		}
	}
	return nil
}

// finish stages the entities of next that are not cold (the routes and API keys were, by add),
// in batches, and returns the function that, once the swap committed, has the cold entities read
// in the live buckets.
func (sg *stager) finish(next *state) (swapIn func(), err error) {
	for _, k := range kinds {
		if coldKind(k) {
			continue
		}
		var batch []*entity
		flush := func() error {
			err := sg.db.Update(func(tx *bbolt.Tx) error { return putSorted(tx, k, batch) })
			batch = batch[:0]
			return err
		}
		for _, e := range next.ents[k.id].All() {
			if batch = append(batch, e); len(batch) == stageBatch {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return func() {
		for _, cs := range sg.stores {
			if cs != nil {
				cs.staged.Store(false)
			}
		}
	}, nil
}

// dropStaging deletes the staging buckets, if any.
func (s *Server) dropStaging() error {
	return dropStagingOf(s.db)
}

func dropStagingOf(db *bbolt.DB) error {
	err := db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte(stagingBucket)) == nil {
			return nil
		}
		return tx.DeleteBucket([]byte(stagingBucket))
	})
	if err != nil {
		return fmt.Errorf("cannot drop the import's staging buckets: %w", err)
	}
	return nil
}

// swapStaged replaces, in tx, each bucket of reset by its staged copy (a bucket without one is
// emptied), then deletes the staging bucket.
func swapStaged(tx *bbolt.Tx, reset []string) error {
	stage := tx.Bucket([]byte(stagingBucket))
	if stage == nil {
		return errors.New("the import's staging buckets are gone")
	}
	for _, name := range reset {
		if err := tx.DeleteBucket([]byte(name)); err != nil {
			return fmt.Errorf("cannot empty bucket %s: %w", name, err)
		}
		if stage.Bucket([]byte(name)) != nil {
			if err := tx.MoveBucket([]byte(name), stage, nil); err != nil {
				return fmt.Errorf("cannot move the staged bucket %s: %w", name, err)
			}
			continue
		}
		if _, err := tx.CreateBucket([]byte(name)); err != nil {
			return fmt.Errorf("cannot recreate bucket %s: %w", name, err)
		}
	}
	return tx.DeleteBucket([]byte(stagingBucket))
}
