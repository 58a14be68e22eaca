package admin

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/quota"
	"go.etcd.io/bbolt"
)

func TestAuditEvents(t *testing.T) {
	e := newEnv(t, nil)
	e.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: map[string]any{"clientId": "auditkey00000001", "clientSecret": "topsecretvalue", "clientName": "a",
		"rotation": map[string]any{"enabled": true, "nextSecret": "nextsecretvalue"}}})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/apikeys/auditkey00000001", body: `{"clientName":"b"}`})
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_a", "a.example.com", 3001)})
	e.must(http.StatusOK, req{method: "PUT", path: "/api/routes/route_a", body: routeBody("route_a", "b.example.com", 3001)})
	e.must(http.StatusOK, req{method: "DELETE", path: "/api/routes/route_a"})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `{"maintenanceMode":true}`})
	e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"})
	// A refused write leaves no audit event.
	e.must(http.StatusBadRequest, req{method: "POST", path: "/api/groups", body: `{}`})

	r := e.must(http.StatusOK, req{method: "GET", path: "/api/audit/events"})
	if bytes.Contains(r.body, []byte("topsecretvalue")) || bytes.Contains(r.body, []byte("nextsecretvalue")) {
		t.Fatalf("audit log leaks a secret: %s", r.body)
	}
	evs := r.list(t)
	var actions []string
	for _, v := range evs {
		ev := v.(map[string]any)
		actions = append(actions, ev["action"].(string))
		if ev["@type"] != "AuditEvent" || ev["audit"] != "AdminApiEvent" || ev["who"] != testClientID || ev["from"] != "127.0.0.1" {
			t.Fatalf("event shape: %v", ev)
		}
	}
	want := "FULL_OTOROSHI_EXPORT UPDATE_GLOBAL_CONFIG DELETE_ROUTE UPDATE_ROUTE CREATE_ROUTE UPDATE_APIKEY CREATE_APIKEY"
	if got := strings.Join(actions, " "); got != want {
		t.Fatalf("actions (newest first) %q, want %q", got, want)
	}
	upd := evs[5].(map[string]any)
	if upd["entityId"] != "auditkey00000001" || upd["before"].(map[string]any)["clientName"] != "a" || upd["after"].(map[string]any)["clientName"] != "b" {
		t.Fatalf("before/after: %v", upd)
	}
	if upd["after"].(map[string]any)["clientSecret"] != redacted {
		t.Fatalf("secret not redacted: %v", upd["after"])
	}
	if l := e.must(http.StatusOK, req{method: "GET", path: "/api/audit/events?page=2&pageSize=3"}).list(t); len(l) != 3 || l[0].(map[string]any)["action"] != "UPDATE_ROUTE" {
		t.Fatalf("audit paging: %v", l)
	}
}

func TestAuditCapped(t *testing.T) {
	e := newEnv(t, nil)
	db := e.s.DB()
	const n = auditCap + 25
	batch := make([][]byte, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, []byte(fmt.Sprintf(`{"n":%d}`, i)))
		if len(batch) == cap(batch) || i == n-1 {
			if err := commit(db, nil, nil, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	evs, total, err := readAudit(db, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if total != auditCap || string(evs[0]) != fmt.Sprintf(`{"n":%d}`, n-1) {
		t.Fatalf("total %d, newest %s", total, evs[0])
	}
	evs, _, _ = readAudit(db, auditCap-1, 5)
	if len(evs) != 1 || string(evs[0]) != fmt.Sprintf(`{"n":%d}`, n-auditCap) {
		t.Fatalf("oldest kept %q", evs)
	}
}

func TestPersistenceAndFirstStart(t *testing.T) {
	var out bytes.Buffer
	e := newEnv(t, func(o *Options) {
		o.BootstrapClientID, o.BootstrapClientSecret = "", ""
		o.KeyOut = &out
	})
	m := regexp.MustCompile(`clientId:\s+(\S+)\s+clientSecret:\s+(\S+)`).FindStringSubmatch(out.String())
	if m == nil || len(m[1]) != 16 || len(m[2]) != 64 {
		t.Fatalf("first start did not print a key: %q", out.String())
	}
	id, secret := m[1], m[2]
	auth := map[string]string{"Otoroshi-Client-Id": id, "Otoroshi-Client-Secret": secret}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/groups", noAuth: true, header: auth, body: map[string]any{"id": "g1", "name": "G"}})
	e.must(http.StatusUnauthorized, req{method: "GET", path: "/api/groups"}) // the bootstrap test key was not used
	// Only a salted hash is stored.
	err := e.s.DB().View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket([]byte(bucketMeta)).Get([]byte(metaAdminKey))
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the admin secret is stored in clear")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.stop()
	out.Reset()
	e.start(func(o *Options) {
		o.BootstrapClientID, o.BootstrapClientSecret = "", ""
		o.KeyOut = &out
	})
	if out.Len() != 0 {
		t.Fatalf("second start printed a key again: %q", out.String())
	}
	g := e.must(http.StatusOK, req{method: "GET", path: "/api/groups/g1", noAuth: true, header: auth}).obj(t)
	if g["name"] != "G" {
		t.Fatalf("group after restart: %v", g)
	}
	if e.pub.last() == nil {
		t.Fatalf("a restart does not publish the stored state")
	}

	// A reset replaces the key: the old one stops working, the new one is printed once.
	e.stop()
	e.start(func(o *Options) {
		o.BootstrapClientID, o.BootstrapClientSecret = "", ""
		o.KeyOut = &out
		o.ResetAdminKey = true
	})
	m2 := regexp.MustCompile(`clientId:\s+(\S+)\s+clientSecret:\s+(\S+)`).FindStringSubmatch(out.String())
	if m2 == nil || m2[2] == secret {
		t.Fatalf("reset did not print a new key: %q", out.String())
	}
	e.must(http.StatusUnauthorized, req{method: "GET", path: "/api/groups", noAuth: true, header: auth})
	e.must(http.StatusOK, req{method: "GET", path: "/api/groups", noAuth: true,
		header: map[string]string{"Otoroshi-Client-Id": m2[1], "Otoroshi-Client-Secret": m2[2]}})
}

func TestQuotasEndpoints(t *testing.T) {
	counters := quota.New(quota.Options{})
	e := newEnv(t, func(o *Options) { o.Quotas = counters })
	e.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: map[string]any{"clientId": "quotakey00000001", "clientName": "q",
		"throttlingQuota": 100, "dailyQuota": 1000, "monthlyQuota": 5000}})
	for i := 0; i < 3; i++ {
		if ok, _, _ := counters.Take("quotakey00000001", quota.Limits{Throttle: 100, Daily: 1000, Monthly: 5000}, time.Now()); !ok {
			t.Fatal("take refused")
		}
	}
	u := e.must(http.StatusOK, req{method: "GET", path: "/api/apikeys/quotakey00000001/quotas"}).obj(t)
	want := map[string]string{"authorizedCallsPerWindow": "100", "throttlingCallsPerWindow": "3", "remainingCallsPerWindow": "97",
		"authorizedCallsPerDay": "1000", "currentCallsPerDay": "3", "remainingCallsPerDay": "997",
		"authorizedCallsPerMonth": "5000", "currentCallsPerMonth": "3", "remainingCallsPerMonth": "4997"}
	if len(u) != len(want) {
		t.Fatalf("quota fields %v", u)
	}
	for k, v := range want {
		if fmt.Sprint(u[k]) != v {
			t.Errorf("%s = %v, want %s", k, u[k], v)
		}
	}
	r := e.must(http.StatusOK, req{method: "DELETE", path: "/api/apikeys/quotakey00000001/quotas"}).obj(t)
	if fmt.Sprint(r["currentCallsPerDay"]) != "0" {
		t.Fatalf("reset: %v", r)
	}
	ev := e.must(http.StatusOK, req{method: "GET", path: "/api/audit/events?pageSize=1"}).list(t)
	if ev[0].(map[string]any)["action"] != "RESET_APIKEY_QUOTAS" {
		t.Fatalf("reset not audited: %v", ev)
	}
	e.must(http.StatusNotFound, req{method: "DELETE", path: "/api/apikeys/nope/quotas"})
}

func TestHealthEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	h := e.must(http.StatusOK, req{method: "GET", path: "/health", noAuth: true}).obj(t)
	if h["otoroshi"] != "healthy" || h["datastore"] != "healthy" {
		t.Fatalf("health %v", h)
	}
	e.must(http.StatusOK, req{method: "GET", path: "/live", noAuth: true})
	e.must(http.StatusOK, req{method: "GET", path: "/ready"})
	e.must(http.StatusCreated, req{method: "POST", path: "/api/groups", body: map[string]any{"id": "g", "name": "g"}})
	m := e.must(http.StatusOK, req{method: "GET", path: "/metrics"})
	if !bytes.Contains(m.body, []byte("torii_admin_writes_total")) || !bytes.Contains(m.body, []byte("go_goroutines")) {
		t.Fatalf("metrics: %.300s", m.body)
	}
}
