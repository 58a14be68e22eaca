package core_test

import (
	"bufio"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/quota"
)

// The events of requests refused with an identified key name the key: a
// read-only key on a POST (405), an expired key and a key not authorized on
// the route (401).
func TestRejectedKeyIdentityAllCauses(t *testing.T) {
	o := startObserved(t, 2)
	be := startHeaderEcho(t)
	ro := testKey("ro-key", "ro-secret")
	ro.ReadOnly = true
	old := testKey("old-key", "old-secret")
	past := time.Now().Add(-time.Hour).UnixMilli()
	old.ValidUntil = &past
	other := testKey("other-key", "other-secret")
	other.AuthorizedEntities = []string{"route_elsewhere"}
	q := quota.New(quota.Options{})
	cfg := o.config(2)
	cfg.Quotas = q
	srv := startProxy(t, cfg)
	publishKeys(t, srv, q, 2, []apikey.ApiKey{ro, old, other}, nil, keyRoute("keys.test", "", "", be))

	c := dial(t, srv)
	br := bufio.NewReader(c)
	f := func(method, id, secret string, status int) {
		t.Helper()
		req := method + " / HTTP/1.1\r\nHost: keys.test\r\nContent-Length: 0\r\nOtoroshi-Client-Id: " + id + "\r\nOtoroshi-Client-Secret: " + secret + "\r\n\r\n"
		if resp, body := roundTrip(t, c, br, req, method); resp.StatusCode != status {
			t.Fatalf("%s with %s: status %d, want %d: %s", method, id, resp.StatusCode, status, body)
		}
	}
	f("POST", "ro-key", "ro-secret", 405)
	f("GET", "old-key", "old-secret", 401)
	f("GET", "other-key", "other-secret", 401)
	evs := o.waitEvents(t, 3)
	for i, want := range []string{"ro-key", "old-key", "other-key"} {
		id, _ := evs[i]["identity"].(map[string]any)
		if id == nil || id["identity"] != want {
			t.Errorf("event %d (%v): identity %v, want %s", i, evs[i]["status"], evs[i]["identity"], want)
		}
	}
}
