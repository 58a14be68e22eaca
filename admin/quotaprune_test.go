package admin

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/torii-gateway/torii/core/quota"
)

// quotaEnv is an admin server with quota counters and a persister flushed by hand on its real bbolt
// file, as torii serve wires them.
type quotaEnv struct {
	*env
	q *quota.Counters
	p *quota.Persister
}

func startQuotaEnv(t *testing.T, dbPath string) *quotaEnv {
	t.Helper()
	q := quota.New(quota.Options{})
	e := &env{t: t, pub: &recorder{}, dbPath: dbPath}
	e.start(func(o *Options) { o.Quotas = q })
	p, err := quota.NewPersister(e.s.DB(), BucketQuotas, q, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &quotaEnv{env: e, q: q, p: p}
}

// count counts n calls of key id, as the engine does, and flushes them.
func (qe *quotaEnv) count(id string, n int) {
	qe.t.Helper()
	for range n {
		qe.q.Take(id, quota.Limits{Throttle: quota.Unlimited, Daily: quota.Unlimited, Monthly: quota.Unlimited}, time.Now())
	}
	qe.flush()
}

func (qe *quotaEnv) flush() {
	qe.t.Helper()
	if err := qe.p.Flush(); err != nil {
		qe.t.Fatal(err)
	}
}

// persisted reports whether the quota bucket holds a record for id.
func (qe *quotaEnv) persisted(id string) bool {
	qe.t.Helper()
	var ok bool
	err := qe.s.DB().View(func(tx *bbolt.Tx) error {
		ok = tx.Bucket([]byte(BucketQuotas)).Get([]byte(id)) != nil
		return nil
	})
	if err != nil {
		qe.t.Fatal(err)
	}
	return ok
}

// callsToday is the usage GET /api/apikeys/{id}/quotas reports.
func (qe *quotaEnv) callsToday(id string) string {
	qe.t.Helper()
	u := qe.must(http.StatusOK, req{method: "GET", path: "/api/apikeys/" + id + "/quotas"}).obj(qe.t.(*testing.T))
	return fmt.Sprint(u["currentCallsPerDay"])
}

func (qe *quotaEnv) createKey(id string) {
	qe.t.Helper()
	qe.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: map[string]any{"clientId": id, "clientName": id}})
}

// Deleting an API key deletes its persisted quota counts, which never come back, even across a
// restart; a key created again with the same client id starts from zero. An import that leaves a
// key out does the same; the other keys keep their counts.
func TestDeletedKeyQuotasPruned(t *testing.T) {
	const gone, kept, dropped = "gonekey000000001", "keptkey000000001", "dropkey000000001"
	dbPath := t.TempDir() + "/torii.db"
	qe := startQuotaEnv(t, dbPath)
	for _, id := range []string{gone, kept, dropped} {
		qe.createKey(id)
		qe.count(id, 3)
	}
	if !qe.persisted(gone) || qe.callsToday(gone) != "3" {
		t.Fatalf("before the delete: persisted %v, %s calls today", qe.persisted(gone), qe.callsToday(gone))
	}

	qe.must(http.StatusOK, req{method: "DELETE", path: "/api/apikeys/" + gone})
	qe.flush()
	if qe.persisted(gone) {
		t.Fatal("the deleted key's quota record is still persisted")
	}

	// An import without the key `dropped`.
	export := qe.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).obj(t)
	var keys []any
	for _, k := range export["apiKeys"].([]any) {
		if k.(map[string]any)["clientId"] != dropped {
			keys = append(keys, k)
		}
	}
	export["apiKeys"] = keys
	qe.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: export})
	qe.flush()
	if qe.persisted(dropped) || !qe.persisted(kept) {
		t.Fatalf("after the import: %s persisted %v, %s persisted %v", dropped, qe.persisted(dropped), kept, qe.persisted(kept))
	}

	qe.createKey(gone)
	if got := qe.callsToday(gone); got != "0" {
		t.Fatalf("the key created again has %s calls today, want 0", got)
	}
	qe.stop()

	qe = startQuotaEnv(t, dbPath)
	f := func(id, want string) {
		t.Helper()
		if got := qe.callsToday(id); got != want {
			t.Errorf("%s after a restart: %s calls today, want %s", id, got, want)
		}
	}
	f(gone, "0")
	f(kept, "3")
	if qe.persisted(dropped) {
		t.Error("the dropped key's record came back")
	}
}

// Records of keys deleted while the process was down (or before deletes pruned them) are deleted
// when the database is opened, before the persister loads them.
func TestStartPrunesQuotasOfMissingKeys(t *testing.T) {
	const ghost, live = "ghostkey00000001", "livekey000000001"
	dbPath := t.TempDir() + "/torii.db"
	qe := startQuotaEnv(t, dbPath)
	qe.createKey(live)
	qe.count(live, 2)
	qe.count(ghost, 2) // counts with no key: what an older release left behind
	if !qe.persisted(ghost) {
		t.Fatal("the ghost record was not written")
	}
	qe.stop()

	qe = startQuotaEnv(t, dbPath)
	if qe.persisted(ghost) || !qe.persisted(live) {
		t.Fatalf("after a restart: ghost persisted %v, live persisted %v", qe.persisted(ghost), qe.persisted(live))
	}
	if got := qe.callsToday(live); got != "2" {
		t.Fatalf("live key after a restart: %s calls today", got)
	}
}
