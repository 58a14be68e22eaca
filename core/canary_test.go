package core_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
)

// TestCanaryMode: a share of the clients goes to the canary's targets with
// its root; a client keeps its side through its otoroshi-canary cookie.
func TestCanaryMode(t *testing.T) {
	mainBE := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("main " + r.URL.Path)) }))
	canaryBE := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("canary " + r.URL.Path)) }))
	host, port, _ := strings.Cut(canaryBE, ":")
	target := `{"id":"c1","hostname":"` + host + `","port":` + port + `}`
	srv := startProxy(t, core.Config{})
	publishRoutes(t, srv, nil, 2,
		withPlugins(testRoute("half.test", mainBE), "CanaryMode", `{"traffic":0.5,"root":"/c","targets":[`+target+`]}`),
		withPlugins(testRoute("none.test", mainBE), "CanaryMode", `{"traffic":0,"targets":[`+target+`]}`),
		withPlugins(testRoute("all.test", mainBE), "CanaryMode", `{"traffic":1,"targets":[`+target+`]}`))
	get := func(host, cookie string) (string, string) {
		t.Helper()
		c := dial(t, srv)
		raw := "GET /x HTTP/1.1\r\nHost: " + host + "\r\n"
		if cookie != "" {
			raw += "Cookie: otoroshi-canary=" + cookie + "\r\n"
		}
		resp, body := roundTrip(t, c, bufio.NewReader(c), raw+"\r\n", "GET")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %q", host, resp.StatusCode, body)
		}
		set := ""
		for _, ck := range resp.Cookies() {
			if ck.Name == "otoroshi-canary" {
				set = ck.Value
			}
		}
		return body, set
	}
	counts := map[string]int{}
	for range 100 {
		body, set := get("half.test", "")
		if set == "" {
			t.Fatal("no otoroshi-canary cookie made up")
		}
		counts[body]++
		// The same client stays on its side.
		for range 3 {
			if again, set2 := get("half.test", set); again != body || set2 != "" {
				t.Fatalf("client %s moved from %q to %q (cookie re-set %q)", set, body, again, set2)
			}
		}
	}
	if counts["main /x"] < 25 || counts["canary /c/x"] < 25 || counts["main /x"]+counts["canary /c/x"] != 100 {
		t.Fatalf("split %v, want about 50/50 with the canary root", counts)
	}
	for range 10 {
		if body, _ := get("none.test", ""); body != "main /x" {
			t.Fatalf("traffic 0 went to %q", body)
		}
		if body, _ := get("all.test", ""); body != "canary /x" {
			t.Fatalf("traffic 1 went to %q", body)
		}
	}
	_, err := route.Compile([]route.Route{withPlugins(testRoute("bad.test", mainBE), "CanaryMode", `{"traffic":2}`)}, route.CompileOptions{})
	if err == nil || !strings.Contains(err.Error(), "plugins[0].config.traffic") {
		t.Fatalf("bad config: %v", err)
	}
}
