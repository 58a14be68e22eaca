package admin

import (
	"fmt"
	"iter"
	"sort"

	"github.com/torii-gateway/torii/internal/jsonx"
)

// bulkBatch is the number of entities BulkLoad commits per bbolt transaction: big enough that
// the fsync per commit does not dominate, small enough that a transaction's dirty pages stay a
// few tens of MiB.
const bulkBatch = 50_000

// BulkLoad stores Otoroshi route and API key documents into the database at path (created when
// missing), replacing entities with the same ids and keeping the others. Each document gets the
// defaults and the checks of an import; the first invalid one stops the load with an error
// naming it (the batches committed before it stay). Unlike an import it streams: it holds one
// batch of encoded documents at a time, not the whole configuration.
//
// It is meant for tests and benchmarks at scale (the bench/scale helper, make bench-scale) and
// for loading a generated configuration before the first start: it must not run while a Server
// has the database open (bbolt's file lock makes it wait 2 s, then fail).
func BulkLoad(path string, routes, keys iter.Seq[map[string]any]) (stored int, err error) {
	db, err := openDB(path)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("cannot close database: %w", cerr)
		}
	}()
	for _, part := range []struct {
		k    kindID
		docs iter.Seq[map[string]any]
	}{{kRoutes, routes}, {kKeys, keys}} {
		if part.docs == nil {
			continue
		}
		k := kinds[part.k]
		var batch []change
		flush := func() error {
			sort.Slice(batch, func(i, j int) bool { return batch[i].key < batch[j].key })
			if err := commit(db, nil, batch, nil); err != nil {
				return err
			}
			stored += len(batch)
			batch = batch[:0]
			return nil
		}
		n := 0
		for d0 := range part.docs {
			// Through JSON, so that numbers and the rest have the types a decoded body has.
			in, err := jsonx.Encode(d0)
			if err != nil {
				return stored, fmt.Errorf("cannot encode %s %d: %w", k.label, n, err)
			}
			d, err := jsonx.DecodeObject(in)
			if err != nil {
				return stored, fmt.Errorf("cannot decode %s %d: %w", k.label, n, err)
			}
			fillDefaults(d, k.defaults)
			c := &checker{}
			k.check(c, d)
			if len(c.errs) > 0 {
				return stored, fmt.Errorf("cannot load %s %d: field %s: %s", k.label, n, c.errs[0].Field, c.errs[0].Message)
			}
			id, _ := d[k.idField].(string)
			raw, err := jsonx.Encode(d)
			if err != nil {
				return stored, fmt.Errorf("cannot encode %s %q: %w", k.label, id, err)
			}
			batch = append(batch, change{bucket: k.bucket, key: id, value: raw})
			n++
			if len(batch) == bulkBatch {
				if err := flush(); err != nil {
					return stored, err
				}
			}
		}
		if len(batch) > 0 {
			if err := flush(); err != nil {
				return stored, err
			}
		}
	}
	return stored, nil
}
