package quota

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// DefaultFlushEvery is the flush period used when NewPersister gets 0. It
// bounds what a crash can lose (see the package Caveats).
const DefaultFlushEvery = time.Second

// recordVersion is the first byte of every persisted record, so the layout
// can change without misreading old files. Version 2: window starts in Unix
// nanoseconds.
const recordVersion = 2

// recordLen is version, then day start, day count, month start, month count
// as big-endian int64s.
const recordLen = 1 + 4*8

// record is the persisted part of an entry, and the slot it was collected
// from (nil when decoded).
type record struct {
	id                string
	day, dayCalls     int64
	month, monthCalls int64
	sl                *Slot
}

func (r *record) encode(dst []byte) []byte {
	dst = append(dst, recordVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.day))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.dayCalls))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.month))
	return binary.BigEndian.AppendUint64(dst, uint64(r.monthCalls))
}

func decodeRecord(id, v []byte) (record, error) {
	if len(v) != recordLen || v[0] != recordVersion {
		return record{}, fmt.Errorf("cannot decode counters of %q: %w", id, ErrBadRecord)
	}
	u := func(i int) int64 { return int64(binary.BigEndian.Uint64(v[1+8*i:])) }
	return record{id: string(id), day: u(0), dayCalls: u(1), month: u(2), monthCalls: u(3)}, nil
}

// Persister saves the daily and monthly counts of a Counters to a bbolt
// bucket and restores them at creation. Run flushes periodically from its own
// goroutine; Flush may also be called directly (it is serialized).
type Persister struct {
	db     *bbolt.DB
	bucket []byte
	c      *Counters
	every  time.Duration

	mu    sync.Mutex // serializes flushes; guards batch and buf
	batch []record
	buf   []byte
}

// NewPersister creates bucket in db if needed, loads the counts it holds into
// c (adding to counts of the same windows c may already have), and returns a
// Persister that flushes every `every` (DefaultFlushEvery when 0). Records of
// a past day or month are loaded too and simply roll over at the next call.
func NewPersister(db *bbolt.DB, bucket string, c *Counters, every time.Duration) (*Persister, error) {
	if bucket == "" {
		return nil, ErrNoBucket
	}
	if every <= 0 {
		every = DefaultFlushEvery
	}
	p := &Persister{db: db, bucket: []byte(bucket), c: c, every: every}
	var recs []record
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(p.bucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			r, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			recs = append(recs, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cannot restore quota counters from bucket %q: %w", bucket, err)
	}
	for i := range recs {
		c.restore(&recs[i])
	}
	return p, nil
}

// restore merges a persisted record into the counters.
func (c *Counters) restore(r *record) {
	sl := c.Slot(r.id)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.day == 0 && sl.month == 0 { // never counted since start
		sl.day, sl.dayCalls, sl.month, sl.monthCalls = r.day, r.dayCalls, r.month, r.monthCalls
		return
	}
	if sl.day == r.day {
		sl.dayCalls += r.dayCalls
	}
	if sl.month == r.month {
		sl.monthCalls += r.monthCalls
	}
	sl.dirty = true
}

// collect appends the records of dirty slots to dst and clears their dirty
// flags. Locks are held only while copying.
func (c *Counters) collect(dst []record) []record {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for id, sl := range sh.m {
			sl.mu.Lock()
			if sl.dirty {
				dst = append(dst, record{id: id, day: sl.day, dayCalls: sl.dayCalls, month: sl.month, monthCalls: sl.monthCalls, sl: sl})
				sl.dirty = false
			}
			sl.mu.Unlock()
		}
		sh.mu.Unlock()
	}
	return dst
}

// markDirty flags ids for the next flush again, after a failed write.
func (c *Counters) markDirty(recs []record) {
	for i := range recs {
		if sl := c.lookup(recs[i].id); sl != nil {
			sl.mu.Lock()
			sl.dirty = true
			sl.mu.Unlock()
		}
	}
}

// Flush writes the counts that changed since the last flush in one bbolt
// transaction. On failure the changes stay pending for the next flush. Safe
// for concurrent use; it performs disk I/O, so never call it on an event loop.
func (p *Persister) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batch = p.c.collect(p.batch[:0])
	if len(p.batch) == 0 {
		return nil
	}
	err := p.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(p.bucket)
		if b == nil {
			var err error
			if b, err = tx.CreateBucket(p.bucket); err != nil {
				return err
			}
		}
		for i := range p.batch {
			if !p.c.holds(p.batch[i].id, p.batch[i].sl) {
				continue // removed since collected (Remove): its record is being deleted
			}
			p.buf = p.batch[i].encode(p.buf[:0])
			// bbolt keeps key and value until the transaction commits:
			// give it copies, not the reused buffer.
			if err := b.Put([]byte(p.batch[i].id), append([]byte(nil), p.buf...)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		p.c.markDirty(p.batch)
		return fmt.Errorf("cannot flush %d quota counters to bucket %q: %w", len(p.batch), p.bucket, err)
	}
	return nil
}

// Run flushes every period until ctx is done, then flushes once more and
// returns the error of that final flush. Start it in its own goroutine
// (go p.Run(ctx)); for a graceful shutdown, cancel ctx and wait for Run to
// return before closing the database. Failed periodic flushes are logged
// with slog and retried at the next tick; after MaxFailedFlushes of them in
// a row the database is taken as failed and Run returns that error before
// ctx is done, for the caller to stop (the counts stay in memory, dirty).
func (p *Persister) Run(ctx context.Context) error {
	t := time.NewTicker(p.every)
	defer t.Stop()
	failed := 0
	for {
		select {
		case <-ctx.Done():
			return p.Flush()
		case <-t.C:
			err := p.Flush()
			if err == nil {
				failed = 0
				continue
			}
			failed++
			slog.Warn("quota flush failed", "err", err, "in_a_row", failed)
			if failed >= int(failedFlushLimit.Load()) {
				return fmt.Errorf("cannot persist quota counters: %d flushes in a row failed: %w", failed, err)
			}
		}
	}
}

// MaxFailedFlushes is the number of periodic flushes in a row that may fail
// before Run gives up (30 s at DefaultFlushEvery): long enough for a
// transient error, short enough for a service manager to restart a gateway
// whose database broke.
const MaxFailedFlushes = 30

// failedFlushLimit is MaxFailedFlushes, lowered only by the toriifault test builds.
var failedFlushLimit atomic.Int32

func init() { failedFlushLimit.Store(MaxFailedFlushes) }
