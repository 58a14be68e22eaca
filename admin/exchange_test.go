package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

// TestImportedExportsRunExchangeProtocol imports each real Otoroshi export
// with its descriptors' targets moved to a reference backend
// (testkit.ExchangeBackend, written from the protocol description), and
// proxies through a real engine: the backend must receive what Otoroshi
// sends for those descriptors (AdditionalHeadersIn's Host, the V1 state of
// OtoroshiChallenge, the Legacy Otoroshi-Claim signed HS512 with the shared
// key), and a backend that does not answer the challenge is refused 502
// errors.service.not.secured.
func TestImportedExportsRunExchangeProtocol(t *testing.T) {
	for _, file := range []string{"export-relay-demo.json", "export-tunnel-demo.json"} {
		t.Run(file, func(t *testing.T) {
			be, addr := testkit.NewExchangeBackend(t, "secret") // ${config.app.claim.sharedKey}'s default
			engine := startEngine(t)
			e := newEnv(t, func(o *Options) { o.Publisher = engine })
			var doc map[string]any
			if err := json.Unmarshal(readTestdata(t, file), &doc); err != nil {
				t.Fatal(err)
			}
			adminSecret := ""
			for _, k := range doc["apiKeys"].([]any) {
				if k := k.(map[string]any); k["clientId"] == "admin-api-apikey-id" {
					adminSecret = k["clientSecret"].(string)
				}
			}
			for _, sd := range doc["serviceDescriptors"].([]any) {
				sd := sd.(map[string]any)
				for _, tg := range sd["targets"].([]any) {
					tg.(map[string]any)["host"] = addr
				}
			}
			body, _ := json.Marshal(doc)
			e.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: body})

			get := func(host string, key bool) (int, http.Header, string) {
				t.Helper()
				r, _ := http.NewRequest("GET", "http://"+engine.Addr().String()+"/api/health", nil)
				r.Host = host
				if key {
					r.Header.Set("Otoroshi-Client-Id", "admin-api-apikey-id")
					r.Header.Set("Otoroshi-Client-Secret", adminSecret)
				}
				res, err := (&http.Client{Timeout: 5 * time.Second}).Do(r)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, res.Header, string(b)
			}
			status, _, text := get("otoroshi-api.oto.tools", true)
			if status != 200 || text != "secured" {
				t.Fatalf("admin API descriptor: %d %q (backend errors %v)", status, text, be.Errors())
			}
			seen := be.Requests()
			if len(seen) != 1 || len(be.Errors()) > 0 {
				t.Fatalf("backend saw %d requests, errors %v", len(seen), be.Errors())
			}
			s := seen[0]
			// additionalHeaders {"Host": "otoroshi-admin-internal-api.oto.tools"}.
			if s.Host != "otoroshi-admin-internal-api.oto.tools" {
				t.Errorf("Host %q, want AdditionalHeadersIn's", s.Host)
			}
			// secComVersion 1: a V1 state, a random value (not a token).
			if st := s.Header.Get("Otoroshi-State"); len(st) != 128 || strings.Contains(st, ".") || s.State != nil {
				t.Errorf("Otoroshi-State %q, want a 128-character V1 value", st)
			}
			// sendInfoToken, secComInfoTokenVersion Legacy, ttl 30 s.
			c := s.Claim
			if c == nil {
				t.Fatalf("no verified Otoroshi-Claim: %v", s.Header)
			}
			for k, want := range map[string]any{"iss": "Otoroshi", "sub": "apikey:admin-api-apikey-id", "aud": "otoroshi-admin-api",
				"user_id": "admin-api-apikey-id", "tags": "[]", "metadata": "{}"} {
				if fmt.Sprint(c[k]) != fmt.Sprint(want) {
					t.Errorf("claim %s = %v, want %v", k, c[k], want)
				}
			}
			if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 30 || c["nbr"] != c["iat"] {
				t.Errorf("claim exp %v iat %v nbr %v", c["exp"], c["iat"], c["nbr"])
			}
			// The credentials stay with the proxy.
			if s.Header.Get("Otoroshi-Client-Secret") != "" {
				t.Error("the API key secret reached the backend")
			}
			be.SetMode("none")
			status, hdr, _ := get("otoroshi-api.oto.tools", true)
			if status != 502 || hdr.Get("Otoroshi-Error-Cause") != "errors.service.not.secured" {
				t.Errorf("unanswered challenge: %d %q", status, hdr.Get("Otoroshi-Error-Cause"))
			}
			be.SetMode("replay")
			if status, _, _ := get("otoroshi-api.oto.tools", true); status != 502 {
				t.Errorf("replayed answer: %d", status)
			}
			if file != "export-relay-demo.json" {
				return
			}
			// service-a: sendInfoToken without enforceSecureCommunication: the
			// claim only (Otoroshi's NG conversion), public, no challenge.
			be.SetMode("")
			n := len(be.Requests())
			if status, _, _ := get("service-a-next-gen.oto.tools", false); status != 200 {
				t.Fatalf("service-a: %d", status)
			}
			s = be.Requests()[n]
			if s.Header.Get("Otoroshi-State") != "" || s.Claim == nil || s.Claim["sub"] != "--" || s.Claim["aud"] != "service-a" {
				t.Errorf("service-a got state %q claim %v", s.Header.Get("Otoroshi-State"), s.Claim)
			}
		})
	}
}
