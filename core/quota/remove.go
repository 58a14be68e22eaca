package quota

import (
	"fmt"
	"strings"

	"go.etcd.io/bbolt"
)

// Remove forgets clientID, for a deleted API key: its slot leaves the table,
// so its counts are never persisted again (a flush skips a slot no longer in
// the table, even one it collected just before) and a key created later with
// the same client id starts from zero in a fresh slot. Whoever still holds
// the old slot (a snapshot in use) keeps counting in it, unseen. The
// persisted record is the caller's to delete (DeleteRecord), after Remove:
// then no flush can write it back. It returns the removed slot (nil when the
// id was never counted) for Restore. Safe for concurrent use.
func (c *Counters) Remove(clientID string) *Slot {
	sh := c.shardFor(clientID)
	sh.mu.Lock()
	sl := sh.m[clientID]
	delete(sh.m, clientID)
	sh.mu.Unlock()
	return sl
}

// Restore puts back sl, which Remove returned for clientID, when the key's
// deletion did not happen after all (a failed write). A slot created for
// clientID in between wins. The counts are persisted again by the next
// flush. Safe for concurrent use.
func (c *Counters) Restore(clientID string, sl *Slot) {
	if sl == nil {
		return
	}
	sh := c.shardFor(clientID)
	sh.mu.Lock()
	if sh.m[clientID] == nil {
		sh.m[strings.Clone(clientID)] = sl
		sl.mu.Lock()
		sl.dirty = true
		sl.mu.Unlock()
	}
	sh.mu.Unlock()
}

// holds reports whether sl is still the slot of clientID.
func (c *Counters) holds(clientID string, sl *Slot) bool {
	return c.lookup(clientID) == sl
}

// DeleteRecord deletes the persisted counts of clientID from bucket in tx (a
// missing bucket or record is not an error), for a key Remove forgot.
func DeleteRecord(tx *bbolt.Tx, bucket, clientID string) error {
	b := tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	if err := b.Delete([]byte(clientID)); err != nil {
		return fmt.Errorf("cannot delete the quota counters of %q: %w", clientID, err)
	}
	return nil
}

// PruneRecords deletes from bucket the persisted counts of every client id
// keep rejects (keys deleted while the process was down, or before records
// were pruned on deletion) and returns how many it deleted. Call it before
// NewPersister loads the bucket. It performs disk I/O: never on an event loop.
func PruneRecords(db *bbolt.DB, bucket string, keep func(clientID string) bool) (int, error) {
	var n int
	err := db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		var gone [][]byte
		err := b.ForEach(func(k, _ []byte) error {
			if !keep(string(k)) {
				gone = append(gone, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range gone {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(gone)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot prune the quota counters of bucket %q: %w", bucket, err)
	}
	return n, nil
}
