package apikey

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core/quota"
)

// exportPath is a real Otoroshi export (see /work/shared/otoroshi/README.md).
const exportPath = "/work/shared/otoroshi/export-relay-demo.json"

func TestDecodeRealExportRoundTrip(t *testing.T) {
	data, err := os.ReadFile(exportPath)
	if err != nil {
		t.Skipf("Otoroshi export not available: %v", err)
	}
	keys, err := DecodeKeys(data)
	if err != nil {
		t.Fatalf("DecodeKeys: %v", err)
	}
	var export struct {
		ApiKeys []map[string]any `json:"apiKeys"`
	}
	if err := json.Unmarshal(data, &export); err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(export.ApiKeys) || len(keys) == 0 {
		t.Fatalf("decoded %d keys, export has %d", len(keys), len(export.ApiKeys))
	}
	for i := range keys {
		out, err := json.Marshal(keys[i])
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, export.ApiKeys[i]) {
			t.Fatalf("key %d does not round-trip:\n got %v\nwant %v", i, got, export.ApiKeys[i])
		}
	}
	if _, ok := keys[0].Extra["restrictions"]; !ok {
		t.Fatal("unknown field restrictions not kept in Extra")
	}
	s, err := Compile(keys)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	admin := s.Get("admin-api-apikey-id")
	if admin == nil || !admin.AuthorizedOn("any", []string{"admin-api-group"}) || admin.AuthorizedOn("any", []string{"default"}) {
		t.Fatalf("admin key authorization wrong: %+v", admin)
	}
	if admin.Limits != (quota.Limits{Throttle: 10000, Daily: quota.Unlimited, Monthly: quota.Unlimited}) {
		t.Fatalf("admin key limits %+v", admin.Limits)
	}
}

func TestDefaultsAndValidUntil(t *testing.T) {
	var k ApiKey
	if err := json.Unmarshal([]byte(`{"clientId":"a","clientSecret":"b","clientName":"c","validUntil":"2030-01-02T03:04:05Z","future":{"x":1}}`), &k); err != nil {
		t.Fatal(err)
	}
	if !k.Enabled || k.DailyQuota != quota.Unlimited || k.Loc.Tenant != "default" || k.Rotation.RotationEvery != 744 {
		t.Fatalf("defaults not applied: %+v", k)
	}
	if k.ValidUntil == nil || *k.ValidUntil != 1893553445000 {
		t.Fatalf("validUntil %v", k.ValidUntil)
	}
	out, _ := json.Marshal(k)
	if !strings.Contains(string(out), `"validUntil":1893553445000`) || !strings.HasSuffix(string(out), `,"future":{"x":1}}`) {
		t.Fatalf("marshal: %s", out)
	}
	f := func(v string, want int64, wantNil bool) {
		t.Helper()
		var k ApiKey
		if err := json.Unmarshal([]byte(`{"validUntil":`+v+`}`), &k); err != nil {
			t.Fatalf("validUntil %s: %v", v, err)
		}
		if wantNil != (k.ValidUntil == nil) || (!wantNil && *k.ValidUntil != want) {
			t.Fatalf("validUntil %s decoded as %v", v, k.ValidUntil)
		}
	}
	f(`null`, 0, true)
	f(`""`, 0, true)
	f(`1700000000000`, 1700000000000, false)
	f(`"1700000000000"`, 1700000000000, false)
	if err := json.Unmarshal([]byte(`{"validUntil":"tomorrow"}`), &k); err == nil || !strings.Contains(err.Error(), "validUntil") {
		t.Fatalf("bad validUntil: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"dailyQuota":"many"}`), &k); err == nil || !strings.Contains(err.Error(), "dailyQuota") {
		t.Fatalf("bad dailyQuota: %v", err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	f := func(edit func(k *ApiKey), field string, want error) {
		t.Helper()
		k := Defaults()
		k.ClientID, k.ClientSecret, k.ClientName = "id", "secret", "name"
		edit(&k)
		err := k.Validate()
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "field "+field) {
			t.Fatalf("Validate() = %v, want %v naming %s", err, want, field)
		}
	}
	f(func(k *ApiKey) { k.ClientID = "" }, "clientId", ErrRequired)
	f(func(k *ApiKey) { k.ClientID = "a b" }, "clientId", ErrBadChars)
	f(func(k *ApiKey) { k.ClientSecret = "" }, "clientSecret", ErrRequired)
	f(func(k *ApiKey) { k.ClientSecret = "é" }, "clientSecret", ErrBadChars)
	f(func(k *ApiKey) { k.ClientName = "" }, "clientName", ErrRequired)
	f(func(k *ApiKey) { k.DailyQuota = -1 }, "dailyQuota", ErrNegative)
	f(func(k *ApiKey) { k.ThrottlingQuota = -1 }, "throttlingQuota", ErrNegative)
	f(func(k *ApiKey) { k.MonthlyQuota = -1 }, "monthlyQuota", ErrNegative)
	f(func(k *ApiKey) { k.AuthorizedEntities = []string{"group_a", " "} }, "authorizedEntities[1]", ErrRequired)
	f(func(k *ApiKey) { s := "a\nb"; k.Rotation.NextSecret = &s }, "rotation.nextSecret", ErrBadChars)

	_, err := DecodeKeys([]byte(`[{"clientId":"a","clientSecret":"b","clientName":"c"},{"clientId":"d","clientName":"e"}]`))
	if !errors.Is(err, ErrRequired) || !strings.Contains(err.Error(), "apikeys[1]") {
		t.Fatalf("DecodeKeys with a bad second key: %v", err)
	}
	keys, err := DecodeKeys([]byte(`[{"clientId":"a","clientSecret":"b","clientName":"c"},{"clientId":"a","clientSecret":"b","clientName":"c"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(keys); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("Compile with a duplicate id: %v", err)
	}
}

func TestLegacyAuthorizedGroup(t *testing.T) {
	keys, err := DecodeKeys([]byte(`{"apiKeys":[{"clientId":"a","clientSecret":"b","clientName":"c","authorizedGroup":"legacy"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile(keys)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Get("a").AuthorizedOn("r", []string{"legacy"}) {
		t.Fatal("authorizedGroup ignored when authorizedEntities is empty")
	}
	if s.Len() != 1 || s.Lookup([]byte("a")) != s.Get("a") || firstKey(s) != s.Get("a") {
		t.Fatal("Set accessors disagree")
	}
}

func TestBearerTokenFormat(t *testing.T) {
	// Computed outside Go: printf 'otoapk_abc' | openssl dgst -sha256 -hmac secret
	const want = "otoapk_abc_32364f2e2cb4c3e3e1424148bdbb8b1b85fbf05a2e0f01436e2a56f7c85620c2"
	if got := BearerToken("abc", "secret"); got != want {
		t.Fatalf("BearerToken = %q, want %q", got, want)
	}
}

func TestSetForRouteAndGroup(t *testing.T) {
	s := testKeys(t)
	ids := func(keys []*Key) string {
		var out []string
		for _, k := range keys {
			out = append(out, k.ClientID)
		}
		return strings.Join(out, ",")
	}
	if got := ids(s.ForGroup("other")); got != "othergroup" {
		t.Fatalf("ForGroup(other) = %s", got)
	}
	if got := ids(s.ForRoute("route_1", []string{"other"})); got != "othergroup,routeonly" { // by client id
		t.Fatalf("ForRoute(route_1, [other]) = %s", got)
	}
	if got := ids(s.ForRoute("route_2", nil)); got != "" {
		t.Fatalf("ForRoute(route_2) = %s", got)
	}
}

// firstKey returns the first key All yields.
func firstKey(s *Set) *Key {
	for k := range s.All() {
		return k
	}
	return nil
}
