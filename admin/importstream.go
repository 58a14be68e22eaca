package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/internal/pmap"
	"github.com/torii-gateway/torii/otoroshi"
	"go.etcd.io/bbolt"
)

// An import streams (handleImport): the body is read member by member with a token decoder
// (jsonx.ObjectReader), each entity is decoded, converted, validated and encoded on its own
// (importer), so the document is never held, decoded or not: only the encodings of the entities
// that the new state keeps anyway. A valid import is then written, sorted by id, into staging
// buckets in transactions of stageBatch entities (bbolt holds the dirty pages of one batch, not
// of the whole configuration), and one last transaction swaps the staging buckets for the live
// ones (bbolt MoveBucket: no copy), with the global config, the audit event and the quota
// records of the keys that are gone. A refused import, or a crash before the swap, leaves the
// previous state stored and published; staging is dropped (at the next start after a crash).

// stagingBucket holds, while an import is written, one child bucket per entity kind.
const stagingBucket = "import-staging"

// stageBatch is the number of entities written per staging transaction.
const stageBatch = 16384

// readImport reads an Otoroshi export from body one entity at a time (see the note above) and
// returns what buildImport returns for the decoded document: the same state, report and
// errors. A route with a backend_ref that comes before the export's "backends" (Otoroshi
// writes routes first) waits for them.
func readImport(body io.Reader, maxEntities int) (*state, *otoroshi.Report, error) {
	or, err := jsonx.NewObjectReader(body)
	if err != nil {
		return nil, nil, err
	}
	im := newImporter(maxEntities)
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

// stageImport writes the entities of next into the staging buckets, in batches, replacing any
// staging left by an import that did not finish. The routes and API keys of next then become
// cold (see entity): read in the staging buckets until swapIn says they were swapped in, in the
// live ones after, so that an imported configuration holds the heap a loaded one does.
func (s *Server) stageImport(next *state) (swapIn func(), err error) {
	if err := s.dropStaging(); err != nil {
		return nil, err
	}
	var stores []*coldStore
	swapIn = func() {
		for _, cs := range stores {
			cs.staged.Store(false)
		}
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
	for _, k := range kinds {
		batch := make([]*entity, 0, min(stageBatch, next.ents[k.id].Len()))
		flush := func() error {
			err := s.db.Update(func(tx *bbolt.Tx) error {
				b := tx.Bucket([]byte(stagingBucket)).Bucket([]byte(k.bucket))
				b.FillPercent = 0.9 // written in key order: pages filled, not split in halves
				for _, e := range batch {
					if err := b.Put([]byte(e.id), e.raw); err != nil {
						return fmt.Errorf("cannot stage %s/%s: %w", k.bucket, e.id, err)
					}
				}
				return nil
			})
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
		if len(batch) > 0 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if coldKind(k) {
			cs := &coldStore{db: s.db, bucket: []byte(k.bucket)}
			cs.staged.Store(true)
			stores = append(stores, cs)
			n := next.ents[k.id].Len()
			ids, ents := make([]string, 0, n), make([]*entity, 0, n)
			for id, e := range next.ents[k.id].All() {
				ids, ents = append(ids, id), append(ents, &entity{id: e.id, cold: cs})
			}
			next.ents[k.id] = pmap.Build(ids, ents)
		}
	}
	return swapIn, nil
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
