package admin

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/internal/pmap"
	"go.etcd.io/bbolt"
)

// Bucket names. One bucket per entity kind, JSON values keyed by id.
const (
	bucketMeta   = "meta"
	bucketRoutes = "routes"
	bucketGroups = "groups"
	bucketKeys   = "apikeys"
	bucketGlobal = "globalconfig"
	bucketAudit  = "audit"
	// BucketQuotas is where the quota persister keeps its counters; admin creates it and only
	// deletes the records of deleted API keys (quotaprune.go).
	BucketQuotas = "quotas"
)

// Keys of the meta bucket and the global config bucket.
const (
	metaSchema   = "schema"
	metaAdminKey = "adminkey"
	metaSeeded   = "seeded"
	// metaExtra holds the top-level fields of the last imported export that are neither entities
	// nor the config (a JSON object), exported back with the entities.
	metaExtra = "export_extra"
	globalKey = "global"
)

// schemaVersion is the version this binary writes; migrations[i] moves a database from version i to
// i+1.
var schemaVersion = len(migrations)

var migrations = []func(tx *bbolt.Tx) error{
	// 0 -> 1: the initial layout.
	func(tx *bbolt.Tx) error {
		for _, name := range []string{bucketMeta, bucketRoutes, bucketGroups, bucketKeys, bucketGlobal, bucketAudit, BucketQuotas} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("cannot create bucket %s: %w", name, err)
			}
		}
		return nil
	},
	// 1 -> 2: data exporter configs.
	func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists([]byte(bucketExporters)); err != nil {
			return fmt.Errorf("cannot create bucket %s: %w", bucketExporters, err)
		}
		return nil
	},
	// 2 -> 3: service descriptors and every other entity kind of an Otoroshi export.
	func(tx *bbolt.Tx) error {
		for _, k := range kinds {
			if _, err := tx.CreateBucketIfNotExists([]byte(k.bucket)); err != nil {
				return fmt.Errorf("cannot create bucket %s: %w", k.bucket, err)
			}
		}
		return nil
	},
}

// entityBuckets are the buckets of every entity kind and of the global config: what an import
// replaces.
func entityBuckets() []string {
	out := []string{bucketGlobal}
	for _, k := range kinds {
		out = append(out, k.bucket)
	}
	return out
}

// openDB opens (creating it and its directory if needed) the bbolt file at path and migrates it to
// schemaVersion in one transaction.
func openDB(path string) (*bbolt.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data directory: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("cannot open database %s: %w", path, err)
	}
	if err := ownerOnly(path); err != nil {
		db.Close()
		return nil, err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		v := 0
		if meta := tx.Bucket([]byte(bucketMeta)); meta != nil {
			if raw := meta.Get([]byte(metaSchema)); raw != nil {
				n, err := strconv.Atoi(string(raw))
				if err != nil {
					return fmt.Errorf("cannot parse schema version %q: %w", raw, err)
				}
				v = n
			}
		}
		if v > schemaVersion {
			return fmt.Errorf("%w: found %d, know %d", ErrSchemaTooNew, v, schemaVersion)
		}
		for ; v < schemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("cannot migrate schema %d to %d: %w", v, v+1, err)
			}
		}
		if tx.Bucket([]byte(stagingBucket)) != nil { // an import that did not finish
			if err := tx.DeleteBucket([]byte(stagingBucket)); err != nil {
				return fmt.Errorf("cannot drop the staging buckets of an unfinished import: %w", err)
			}
		}
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(metaSchema), []byte(strconv.Itoa(schemaVersion)))
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// loadState reads every entity into a fresh state.
func loadState(db *bbolt.DB) (*state, error) {
	st := newState()
	err := db.View(func(tx *bbolt.Tx) error {
		for _, k := range kinds {
			// bbolt yields keys in order: the map is built in one pass (pmap.Build). The stored
			// encodings are kept as they are (writes store canonical encodings); each is checked
			// to be a JSON object, not decoded. Routes and API keys stay cold (see entity):
			// the compile that follows decodes every one of them, so they are only checked to
			// be an object's bytes here.
			var ids []string
			var ents []*entity
			var cs *coldStore
			if coldKind(k) {
				cs = &coldStore{db: db, bucket: []byte(k.bucket)}
			}
			err := tx.Bucket([]byte(k.bucket)).ForEach(func(key, val []byte) error {
				ids = append(ids, string(key))
				if cs != nil {
					if v := bytes.TrimSpace(val); len(v) < 2 || v[0] != '{' || v[len(v)-1] != '}' {
						return fmt.Errorf("cannot decode %s %q: not a JSON object", k.label, key)
					}
					ents = append(ents, &entity{id: ids[len(ids)-1], cold: cs})
					return nil
				}
				if !isJSONObject(val) {
					return fmt.Errorf("cannot decode %s %q: not a JSON object", k.label, key)
				}
				raw := bytes.Clone(val) // val is valid only during the transaction
				ents = append(ents, &entity{id: ids[len(ids)-1], raw: raw, etag: jsonx.ETag(raw)})
				return nil
			})
			if err != nil {
				return err
			}
			st.ents[k.id] = pmap.Build(ids, ents)
		}
		var err error
		if st.global, err = loadDoc(tx, bucketGlobal, globalKey); err != nil {
			return fmt.Errorf("cannot load global config: %w", err)
		}
		if st.extra, err = loadDoc(tx, bucketMeta, metaExtra); err != nil {
			return fmt.Errorf("cannot load the export's extra fields: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// isJSONObject reports whether b is one valid JSON object.
func isJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// loadDoc reads one JSON object stored under key; nil when there is none.
func loadDoc(tx *bbolt.Tx, bucket, key string) (*entity, error) {
	raw := tx.Bucket([]byte(bucket)).Get([]byte(key))
	if raw == nil {
		return nil, nil
	}
	doc, err := jsonx.DecodeObject(raw)
	if err != nil {
		return nil, err
	}
	return newEntity(key, doc)
}

// change is one put (value != nil) or delete (value == nil) in a bucket.
type change struct {
	bucket string
	key    string
	value  []byte
}

// auditCap bounds the number of audit events kept; older ones are dropped in the same transaction
// that appends a new one.
const auditCap = 10000

// commit applies changes, after emptying the buckets in reset, and appends the audit events, all in
// one bbolt transaction (fsynced before it returns).
func commit(db *bbolt.DB, reset []string, changes []change, audits [][]byte) error {
	return db.Update(func(tx *bbolt.Tx) error {
		for _, name := range reset {
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return fmt.Errorf("cannot empty bucket %s: %w", name, err)
			}
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return fmt.Errorf("cannot recreate bucket %s: %w", name, err)
			}
		}
		return applyChanges(tx, changes, audits)
	})
}

// applyChanges applies changes and appends the audit events in tx.
func applyChanges(tx *bbolt.Tx, changes []change, audits [][]byte) error {
	for _, c := range changes {
		b := tx.Bucket([]byte(c.bucket))
		var err error
		if c.value == nil {
			err = b.Delete([]byte(c.key))
		} else {
			err = b.Put([]byte(c.key), c.value)
		}
		if err != nil {
			return fmt.Errorf("cannot write %s/%s: %w", c.bucket, c.key, err)
		}
	}
	return appendAudit(tx, audits)
}

func appendAudit(tx *bbolt.Tx, audits [][]byte) error {
	if len(audits) == 0 {
		return nil
	}
	b := tx.Bucket([]byte(bucketAudit))
	var seq uint64
	for _, ev := range audits {
		var err error
		seq, err = b.NextSequence()
		if err != nil {
			return fmt.Errorf("cannot number audit event: %w", err)
		}
		if err := b.Put(seqKey(seq), ev); err != nil {
			return fmt.Errorf("cannot store audit event: %w", err)
		}
	}
	if seq <= auditCap {
		return nil
	}
	oldest := seqKey(seq - auditCap + 1)
	c := b.Cursor()
	for k, _ := c.First(); k != nil && string(k) < string(oldest); k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("cannot drop old audit event: %w", err)
		}
	}
	return nil
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// readAudit returns up to limit audit events, newest first, skipping the first offset.
func readAudit(db *bbolt.DB, offset, limit int) ([][]byte, int, error) {
	var out [][]byte
	total := 0
	err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketAudit))
		total = b.Stats().KeyN
		c := b.Cursor()
		i := 0
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			if i >= offset {
				out = append(out, append([]byte(nil), v...))
			}
			i++
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read audit events: %w", err)
	}
	return out, total, nil
}
