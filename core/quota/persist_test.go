package quota

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

func openDB(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("cannot open bbolt file: %v", err)
	}
	return db
}

func TestPersistAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "quotas.db")
	lim := Limits{Throttle: Unlimited, Daily: 10, Monthly: 100}
	now := time.Date(2026, 7, 14, 9, 0, 0, 0, time.UTC)

	db := openDB(t, path)
	c := New(Options{})
	p, err := NewPersister(db, "quotas", c, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		c.Take("a", lim, now)
	}
	c.Take("b", lim, now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	c.Take("a", lim, now) // may land before or after a periodic flush
	cancel()              // graceful shutdown: Run flushes before returning
	if err := <-done; err != nil {
		t.Fatalf("final flush: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, path)
	defer db.Close()
	c2 := New(Options{})
	if _, err := NewPersister(db, "quotas", c2, 0); err != nil {
		t.Fatal(err)
	}
	f := func(id string, day, month int64) {
		t.Helper()
		u := c2.Usage(id, lim, now.Add(time.Hour))
		if u.CurrentCallsPerDay != day || u.CurrentCallsPerMonth != month || u.ThrottlingCallsPerWindow != 0 {
			t.Fatalf("%s after restart: %+v, want day=%d month=%d and no throttling count", id, u, day, month)
		}
	}
	f("a", 5, 5)
	f("b", 1, 1)
	// The restored counts are enforced: 5 more calls of "a" today, then 429.
	for i := range 6 {
		ok, _, _ := c2.Take("a", lim, now.Add(time.Hour))
		if ok != (i < 5) {
			t.Fatalf("call %d after restart: ok=%v", i+6, ok)
		}
	}
	// Next day: the daily count restarts, the monthly one goes on.
	f2 := now.Add(24 * time.Hour)
	if u := c2.Usage("a", lim, f2); u.CurrentCallsPerDay != 0 || u.CurrentCallsPerMonth != 10 {
		t.Fatalf("next day after restart: %+v", u)
	}
}

func TestFlushOnlyWritesChanges(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "q.db"))
	defer db.Close()
	c := New(Options{})
	p, err := NewPersister(db, "q", c, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 7, 14, 9, 0, 0, 0, time.UTC)
	c.Take("a", unlimited, now)
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(c.collect(nil)); n != 0 {
		t.Fatalf("%d entries still dirty after a flush", n)
	}
	c.Reset("a")
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	c2 := New(Options{})
	if _, err := NewPersister(db, "q", c2, 0); err != nil {
		t.Fatal(err)
	}
	if u := c2.Usage("a", unlimited, now); u.CurrentCallsPerDay != 0 {
		t.Fatalf("reset not persisted: %+v", u)
	}
}

func TestPersisterRejectsBadRecords(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "q.db"))
	defer db.Close()
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("q"))
		if err != nil {
			return err
		}
		return b.Put([]byte("a"), []byte{9, 9})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPersister(db, "q", New(Options{}), 0); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("NewPersister on a corrupt record: %v, want ErrBadRecord", err)
	}
	if _, err := NewPersister(db, "", New(Options{}), 0); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("empty bucket name: %v", err)
	}
}

// TestPeriodicFlush checks that counts reach the file while Run is running,
// without a shutdown: what a crash would leave behind.
func TestPeriodicFlush(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "q.db"))
	defer db.Close()
	c := New(Options{})
	p, err := NewPersister(db, "q", c, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	now := time.Date(2026, 7, 14, 9, 0, 0, 0, time.UTC)
	for range 3 {
		c.Take("a", unlimited, now)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got int64 = -1
		err := db.View(func(tx *bbolt.Tx) error {
			if v := tx.Bucket([]byte("q")).Get([]byte("a")); v != nil {
				r, err := decodeRecord([]byte("a"), v)
				if err != nil {
					return err
				}
				got = r.dayCalls
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("periodic flush did not write the count within 5s (file has %d)", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRestoreIntoExistingSlot covers keys compiled (their Slot created)
// before the Persister restores the file, as at a normal start.
func TestRestoreIntoExistingSlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	now := time.Date(2026, 7, 14, 9, 0, 0, 0, time.UTC)
	db := openDB(t, path)
	c := New(Options{})
	p, err := NewPersister(db, "q", c, 0)
	if err != nil {
		t.Fatal(err)
	}
	take(t, c, "a", now, now)
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openDB(t, path)
	defer db.Close()
	c2 := New(Options{})
	sl := c2.Slot("a") // what apikey.CompileWith does before the restore
	if _, err := NewPersister(db, "q", c2, 0); err != nil {
		t.Fatal(err)
	}
	if ok, rem, _ := c2.TakeSlot(sl, Limits{Throttle: Unlimited, Daily: 3, Monthly: Unlimited}, now); !ok || rem.Daily != 0 {
		t.Fatalf("third call of the day after restore: ok=%v rem=%+v", ok, rem)
	}
	if ok, _, _ := c2.TakeSlot(sl, Limits{Throttle: Unlimited, Daily: 3, Monthly: Unlimited}, now); ok {
		t.Fatal("fourth call accepted with a daily quota of 3")
	}
}

// TestRunGivesUpOnAFailingDatabase: when every flush fails (here the database was closed
// under the persister), Run returns an error after MaxFailedFlushes periods instead of
// retrying forever, so that the gateway can stop with a non-zero status.
func TestRunGivesUpOnAFailingDatabase(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "q.db"))
	c := New(Options{})
	p, err := NewPersister(db, "q", c, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	c.Take("a", unlimited, time.Date(2026, 7, 14, 9, 0, 0, 0, time.UTC))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
			t.Fatalf("Run = %v, want the database error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept retrying a closed database")
	}
}
