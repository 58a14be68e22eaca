package quota

import (
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// recordOf reads the persisted record of id, if any.
func recordOf(t *testing.T, db *bbolt.DB, id string) (record, bool) {
	t.Helper()
	var r record
	var ok bool
	err := db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte("quotas")).Get([]byte(id))
		if v == nil {
			return nil
		}
		var err error
		r, err = decodeRecord([]byte(id), v)
		ok = err == nil
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, ok
}

// The limits and the instant of the removal tests.
var (
	removeLim = Limits{Throttle: Unlimited, Daily: 10, Monthly: 100}
	removeNow = time.Date(2026, 7, 14, 9, 0, 0, 0, time.UTC)
)

// openPersisted opens the bbolt file at path (closed when the test ends, unless closed before)
// and returns empty counters restored from and persisted to its bucket "quotas".
func openPersisted(t *testing.T, path string) (*bbolt.DB, *Counters, *Persister) {
	t.Helper()
	db := openDB(t, path)
	t.Cleanup(func() { _ = db.Close() })
	c := New(Options{})
	p, err := NewPersister(db, "quotas", c, 0)
	if err != nil {
		t.Fatal(err)
	}
	return db, c, p
}

// A removed key's record is deleted and never written back, even by calls
// still counted in its old slot; after a restart it is gone, and a key
// created again with the same client id starts from zero.
func TestRemoveDeletesRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "quotas.db")
	lim, now := removeLim, removeNow
	db, c, p := openPersisted(t, path)
	old := c.Slot("gone") // as a compiled key holds it
	for range 3 {
		c.TakeSlot(old, lim, now)
	}
	c.Take("kept", lim, now)
	c.Take("kept", lim, now)
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if r, ok := recordOf(t, db, "gone"); !ok || r.dayCalls != 3 {
		t.Fatalf("record of gone before removal: %+v %v", r, ok)
	}

	if sl := c.Remove("gone"); sl != old {
		t.Fatalf("Remove returned %p, want the key's slot %p", sl, old)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return DeleteRecord(tx, "quotas", "gone") }); err != nil {
		t.Fatal(err)
	}
	c.TakeSlot(old, lim, now) // a request still on the old snapshot
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if r, ok := recordOf(t, db, "gone"); ok {
		t.Fatalf("the removed key's record was written back: %+v", r)
	}
	if u := c.Usage("gone", lim, now); u.CurrentCallsPerDay != 0 {
		t.Fatalf("usage of the removed key: %+v", u)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, c2, p2 := openPersisted(t, path)
	if u := c2.Usage("kept", lim, now); u.CurrentCallsPerDay != 2 {
		t.Fatalf("kept after restart: %+v", u)
	}
	if ok, rem, _ := c2.Take("gone", lim, now); !ok || rem.Daily != 9 {
		t.Fatalf("a key created again with the removed id: ok %v, %d calls left today, want 9", ok, rem.Daily)
	}
	if err := p2.Flush(); err != nil {
		t.Fatal(err)
	}
	if r, ok := recordOf(t, db, "gone"); !ok || r.dayCalls != 1 {
		t.Fatalf("record of the re-created key: %+v %v", r, ok)
	}
}

// A slot a flush collected just before its key was removed is not written:
// the flush checks the slot is still the id's when it writes.
func TestFlushSkipsSlotRemovedAfterCollect(t *testing.T) {
	db, c, p := openPersisted(t, filepath.Join(t.TempDir(), "quotas.db"))
	sl := c.Slot("racy")
	c.TakeSlot(sl, removeLim, removeNow)

	// Hold bbolt's writer lock so that the flush waits between its collect
	// and its write.
	locked, unlock := make(chan struct{}), make(chan struct{})
	go func() {
		_ = db.Update(func(*bbolt.Tx) error {
			close(locked)
			<-unlock
			return nil
		})
	}()
	<-locked
	flushed := make(chan error, 1)
	go func() { flushed <- p.Flush() }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sl.mu.Lock()
		collected := !sl.dirty
		sl.mu.Unlock()
		if collected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the flush never collected the slot")
		}
		time.Sleep(time.Millisecond)
	}
	c.Remove("racy")
	close(unlock)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if r, ok := recordOf(t, db, "racy"); ok {
		t.Fatalf("a slot removed after its collect was written: %+v", r)
	}
}

// Restore undoes a Remove whose deletion failed: the counts are the key's
// again and persisted by the next flush.
func TestRestoreAfterFailedRemoval(t *testing.T) {
	lim, now := removeLim, removeNow
	db, c, p := openPersisted(t, filepath.Join(t.TempDir(), "quotas.db"))
	c.Take("k", lim, now)
	c.Take("k", lim, now)
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	sl := c.Remove("k")
	c.Restore("k", sl)
	c.Restore("k", nil) // nothing to restore: no effect
	if u := c.Usage("k", lim, now); u.CurrentCallsPerDay != 2 {
		t.Fatalf("usage after Restore: %+v", u)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return DeleteRecord(tx, "quotas", "k") }); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if r, ok := recordOf(t, db, "k"); !ok || r.dayCalls != 2 {
		t.Fatalf("record after Restore and a flush: %+v %v", r, ok)
	}
}

// PruneRecords deletes the records of the client ids keep rejects, before
// they are loaded.
func TestPruneRecords(t *testing.T) {
	lim, now := removeLim, removeNow
	db, c, p := openPersisted(t, filepath.Join(t.TempDir(), "quotas.db"))
	for _, id := range []string{"a", "b", "c"} {
		c.Take(id, lim, now)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	n, err := PruneRecords(db, "quotas", func(id string) bool { return id == "b" })
	if err != nil || n != 2 {
		t.Fatalf("PruneRecords = %d, %v; want 2", n, err)
	}
	c2 := New(Options{})
	if _, err := NewPersister(db, "quotas", c2, 0); err != nil {
		t.Fatal(err)
	}
	f := func(id string, want int64) {
		t.Helper()
		if u := c2.Usage(id, lim, now); u.CurrentCallsPerDay != want {
			t.Errorf("%s after the prune: %d calls today, want %d", id, u.CurrentCallsPerDay, want)
		}
	}
	f("a", 0)
	f("b", 1)
	f("c", 0)
	if n, err := PruneRecords(db, "missing", func(string) bool { return false }); err != nil || n != 0 {
		t.Fatalf("PruneRecords on a missing bucket = %d, %v", n, err)
	}
}
