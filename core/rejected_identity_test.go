package core_test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/quota"
)

// The event of a request refused with an identified key (here out of its
// daily quota) names the key, as Otoroshi's does, with its remaining quotas,
// and never carries its secret.
func TestRejectedKeyIdentity(t *testing.T) {
	o := startObserved(t, 2)
	be := startHeaderEcho(t)
	k := testKey("limited-key", "limited-secret-value")
	k.ClientName, k.DailyQuota = "Limited key", 1
	q := quota.New(quota.Options{})
	cfg := o.config(2)
	cfg.Quotas = q
	srv := startProxy(t, cfg)
	publishKeys(t, srv, q, 2, []apikey.ApiKey{k}, nil, keyRoute("keys.test", "", "", be))

	c := dial(t, srv)
	br := bufio.NewReader(c)
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
