package admin

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/clientcreds"
	"github.com/torii-gateway/torii/core/apikey"
)

// TestClientCredentialsFlow: a route with NgClientCredentials and
// ApikeyCalls serves Otoroshi's token endpoint through the real engine; the
// access token it gives for an API key's id and secret is accepted by
// ApikeyCalls as that key; bad credentials, a grant type other than
// client_credentials and scopes the key was not granted are refused.
func TestClientCredentialsFlow(t *testing.T) {
	engine := startEngine(t)
	cc, err := clientcreds.New(func() *apikey.Set {
		if s := engine.Snapshot(); s != nil {
			return s.Keys
		}
		return nil
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	e := newEnv(t, func(o *Options) { o.Publisher = engine; o.ClientCredentials = cc })
	port := startBackend(t, "protected")
	r := routeBody("route_cc", "cc.test", port)
	r["plugins"] = []any{
		map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.NgClientCredentials", "config": map[string]any{"secure": false, "expiration": 60000}},
		map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.ApikeyCalls", "config": map[string]any{}},
	}
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: r})
	e.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: map[string]any{
		"clientId": "cc-client", "clientSecret": "cc-secret-cc-secret-cc-secret-00", "clientName": "cc client",
		"authorizedEntities": []any{"route_route_cc", "route_cc"}, "metadata": map[string]any{"scope": "read write"}}})

	proxy := "http://" + engine.Addr().String()
	call := func(method, path, ctype, body string, hdr map[string]string) (int, string) {
		t.Helper()
		rq, _ := http.NewRequest(method, proxy+path, strings.NewReader(body))
		rq.Host = "cc.test"
		if ctype != "" {
			rq.Header.Set("Content-Type", ctype)
		}
		for k, v := range hdr {
			rq.Header.Set(k, v)
		}
		res, err := (&http.Client{Timeout: 5 * time.Second}).Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	form := "application/x-www-form-urlencoded"
	token := func(v url.Values) (int, map[string]any) {
		t.Helper()
		status, body := call("POST", clientcreds.Prefix+"token", form, v.Encode(), nil)
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		return status, m
	}
	status, m := token(url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc-client"},
		"client_secret": {"cc-secret-cc-secret-cc-secret-00"}, "scope": {"read"}})
	if status != 200 || m["token_type"] != "Bearer" || m["expires_in"] != float64(60) || m["scope"] != "read" {
		t.Fatalf("token: %d %v", status, m)
	}
	access := m["access_token"].(string)
	if s, b := call("GET", "/data", "", "", map[string]string{"Authorization": "Bearer " + access}); s != 200 || b != "protected" {
		t.Fatalf("call with the access token: %d %q", s, b)
	}
	if s, _ := call("GET", "/data", "", "", nil); s != 400 {
		t.Fatalf("call without a token: %d, want 400 (no api key)", s)
	}
	if s, _ := call("GET", "/data", "", "", map[string]string{"Authorization": "Bearer " + access[:len(access)-4] + "AAAA"}); s/100 != 4 || s == 200 {
		t.Fatalf("call with a forged token: %d", s)
	}
	// JSON body and Basic credentials work too.
	rq := `{"grant_type":"client_credentials"}`
	if s, b := call("POST", clientcreds.Prefix+"token", "application/json", rq,
		map[string]string{"Authorization": "Basic " + basic("cc-client", "cc-secret-cc-secret-cc-secret-00")}); s != 200 || !strings.Contains(b, "access_token") {
		t.Fatalf("JSON + Basic: %d %s", s, b)
	}
	if s, m := token(url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc-client"}, "client_secret": {"wrong"}}); s != 401 || m["error"] != "access_denied" {
		t.Fatalf("bad secret: %d %v", s, m)
	}
	if s, m := token(url.Values{"grant_type": {"password"}, "client_id": {"cc-client"}, "client_secret": {"cc-secret-cc-secret-cc-secret-00"}}); s != 400 || m["error"] != "unauthorized_client" {
		t.Fatalf("grant type: %d %v", s, m)
	}
	if s, m := token(url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc-client"}, "client_secret": {"cc-secret-cc-secret-cc-secret-00"}, "scope": {"admin"}}); s != 403 {
		t.Fatalf("scope not granted: %d %v", s, m)
	}
	if s, b := call("POST", clientcreds.Prefix+"token/introspect", form, url.Values{"token": {access}}.Encode(), nil); s != 200 || !strings.Contains(b, `"clientId":"cc-client"`) {
		t.Fatalf("introspect: %d %s", s, b)
	}
	// A bad config is refused, naming the field.
	r["plugins"] = []any{map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins.NgClientCredentials", "config": map[string]any{"expiration": -1}}}
	res := e.do(req{method: "PUT", path: "/api/routes/route_cc", body: r})
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "config.expiration") {
		t.Fatalf("bad config: %d %s", res.status, res.body)
	}
}

func basic(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))
}
