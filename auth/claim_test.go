package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/testkit"
)

// claimBackend answers the payload of the Otoroshi-Claim it received (or
// "no claim").
func claimBackend(t testing.TB) string {
	return testkit.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.Header.Get("Otoroshi-Claim"), ".")
		if len(parts) != 3 {
			_, _ = w.Write([]byte("no claim"))
			return
		}
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(p)
	}))
}

// withInfos adds the OtoroshiInfos plugin (version Latest or Legacy).
func withInfos(r route.Route, version string) route.Route {
	r.Plugins = append(r.Plugins, route.Plugin{Enabled: true, Plugin: "cp:otoroshi.next.plugins.OtoroshiInfos",
		Config: json.RawMessage(`{"version":"` + version + `"}`)})
	return r
}

// The backend receives the logged-in user in the Otoroshi-Claim of
// OtoroshiInfos: Latest (access_type user, user object) and Legacy (sub
// pa:<email>, user as JSON text).
func TestBackendSeesTheUser(t *testing.T) {
	be := claimBackend(t)
	st := startStack(t, nil)
	st.publish(t, []string{basicModule(t, "mod_basic", "")},
		withInfos(privateRoute("r_latest", "latest.test", be, "mod_basic"), "Latest"),
		withInfos(privateRoute("r_legacy", "legacy.test", be, "mod_basic"), "Legacy"))
	for _, host := range []string{"latest.test", "legacy.test"} {
		c := st.browser(t)
		resp, _ := get(t, c, "http://"+host+"/")
		_, page := get(t, c, "http://"+host+resp.Header.Get("Location"))
		if resp, _ := postForm(t, c, host, page, "alice@oto.tools", "wonderland", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: login %d", host, resp.StatusCode)
		}
		_, body := get(t, c, "http://"+host+"/")
		var claim map[string]any
		if err := json.Unmarshal([]byte(body), &claim); err != nil {
			t.Fatalf("%s: backend got %s", host, body)
		}
		var user map[string]any
		switch host {
		case "latest.test":
			user, _ = claim["user"].(map[string]any)
			if claim["access_type"] != "user" || claim["sub"] != "alice@oto.tools" {
				t.Fatalf("Latest claim: %v", claim)
			}
		default:
			s, _ := claim["user"].(string)
			_ = json.Unmarshal([]byte(s), &user)
			if claim["sub"] != "pa:alice@oto.tools" || claim["email"] != "alice@oto.tools" {
				t.Fatalf("Legacy claim: %v", claim)
			}
		}
		meta, _ := user["metadata"].(map[string]any)
		if user["email"] != "alice@oto.tools" || user["name"] != "Alice" || meta["team"] != "ops" {
			t.Fatalf("%s: user part %v", host, claim["user"])
		}
	}
}
