package core_test

import (
	"bufio"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/apikey"
)

// The event of a request refused with an identified key (here out of its
// daily quota) names the key, as Otoroshi's does, with its remaining quotas,
// and never carries its secret.
func TestRejectedKeyIdentity(t *testing.T) {
	k := testKey("limited-key", "limited-secret-value")
	k.ClientName, k.DailyQuota = "Limited key", 1
	o, c, br := startKeyedObserved(t, k)
	req := "GET / HTTP/1.1\r\nHost: keys.test\r\nOtoroshi-Client-Id: limited-key\r\nOtoroshi-Client-Secret: limited-secret-value\r\n\r\n"
	for _, want := range []int{200, 429} {
		if resp, body := roundTrip(t, c, br, req, "GET"); resp.StatusCode != want {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, body)
		}
	}
	evs := o.waitEvents(t, 2)
	ev := evs[1]
	if ev["status"] != float64(429) || ev["gwError"] != "errors.too.much.requests" {
		t.Fatalf("second event: status %v gwError %v", ev["status"], ev["gwError"])
	}
	id, _ := ev["identity"].(map[string]any)
	if id == nil || id["identityType"] != "APIKEY" || id["identity"] != "limited-key" || id["label"] != "Limited key" {
		t.Fatalf("identity of the refused call = %v", ev["identity"])
	}
	rq, _ := ev["remainingQuotas"].(map[string]any)
	if rq == nil || rq["remainingCallsPerDay"] != float64(0) || rq["currentCallsPerDay"] != float64(1) {
		t.Fatalf("remainingQuotas of the refused call = %v", ev["remainingQuotas"])
	}
	raw, err := os.ReadFile(o.events)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "limited-secret-value") {
		t.Fatalf("an event carries the key's secret: %s", raw)
	}
}

// The events of requests refused with an identified key name the key: a
// read-only key on a POST (405), an expired key and a key not authorized on
// the route (401).
func TestRejectedKeyIdentityAllCauses(t *testing.T) {
	ro := testKey("ro-key", "ro-secret")
	ro.ReadOnly = true
	old := testKey("old-key", "old-secret")
	past := time.Now().Add(-time.Hour).UnixMilli()
	old.ValidUntil = &past
	other := testKey("other-key", "other-secret")
	other.AuthorizedEntities = []string{"route_elsewhere"}
	o, c, br := startKeyedObserved(t, ro, old, other)

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

// startKeyedObserved starts an observed proxy on 2 loops whose route
// keys.test needs one of keys, in front of a header echo, and returns a
// connection to it.
func startKeyedObserved(t *testing.T, keys ...apikey.ApiKey) (*observed, net.Conn, *bufio.Reader) {
	t.Helper()
	o, srv := startObservedKeys(t, 2, keys, nil, keyRoute("keys.test", "", "", startHeaderEcho(t)))
	c := dial(t, srv)
	return o, c, bufio.NewReader(c)
}
