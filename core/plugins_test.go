package core_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/testkit"
)

// withPlugins returns r with the given plugins (short name, config JSON).
func withPlugins(r route.Route, plugins ...string) route.Route {
	for i := 0; i+1 < len(plugins); i += 2 {
		r.Plugins = append(r.Plugins, route.Plugin{Enabled: true, Plugin: "cp:otoroshi.next.plugins." + plugins[i],
			Config: json.RawMessage(plugins[i+1])})
	}
	return r
}

// TestOtoroshiExchangeProtocol: a route with OtoroshiChallenge (V1 and V2),
// OtoroshiInfos and AdditionalHeadersIn sends what the reference backend
// expects; a wrong, replayed or missing answer is refused 502
// errors.service.not.secured and never reaches the client.
func TestOtoroshiExchangeProtocol(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		version := map[bool]string{false: "V1", true: "V2"}[v2]
		t.Run(version, func(t *testing.T) {
			be, addr := testkit.NewExchangeBackend(t, "secret")
			srv := startProxy(t, core.Config{})
			publishRoutes(t, srv, nil, 2, withPlugins(testRoute("secured.test", addr),
				"AdditionalHeadersIn", `{"headers":{"X-Req":"${req.id}","X-From":"torii"}}`,
				"OtoroshiChallenge", `{"version":"`+version+`","ttl":30}`,
				"OtoroshiInfos", `{"version":"Latest","ttl":30}`))
			c := dial(t, srv)
			br := bufio.NewReader(c)
			get := "GET /x HTTP/1.1\r\nHost: secured.test\r\nOtoroshi-State: forged\r\n\r\n"
			resp, body := roundTrip(t, c, br, get, "GET")
			if resp.StatusCode != 200 || body != "secured" {
				t.Fatalf("good answer: %d %q", resp.StatusCode, body)
			}
			if resp.Header.Get("Otoroshi-State-Resp") != "" {
				t.Error("the backend's answer leaked to the client")
			}
			seen := be.Requests()
			if errs := be.Errors(); len(errs) > 0 || len(seen) != 1 || seen[0].Claim["access_type"] != "public" || seen[0].Claim["aud"] != "secured.test" {
				t.Fatalf("backend: errs %v seen %+v", errs, seen)
			}
			if v2 && (seen[0].State == nil || seen[0].State["aud"] != "secured.test") {
				t.Errorf("V2 state token %v", seen[0].State)
			}
			h := seen[0].Header
			if h.Get("X-From") != "torii" || h.Get("X-Req") == "" || h.Get("X-Req") != h.Get("Otoroshi-Request-Id") {
				t.Errorf("AdditionalHeadersIn: X-From %q X-Req %q id %q", h.Get("X-From"), h.Get("X-Req"), h.Get("Otoroshi-Request-Id"))
			}
			if len(h.Values("Otoroshi-State")) != 1 || h.Get("Otoroshi-State") == "forged" {
				t.Errorf("Otoroshi-State %v: the client's copy must not pass", h.Values("Otoroshi-State"))
			}
			for _, mode := range []string{"wrong", "replay", "none"} {
				be.SetMode(mode)
				c := dial(t, srv)
				resp, body := roundTrip(t, c, bufio.NewReader(c), get, "GET")
				if resp.StatusCode != 502 || resp.Header.Get("Otoroshi-Error-Cause") != "errors.service.not.secured" || body == "secured" {
					t.Errorf("%s answer: %d %q %q", mode, resp.StatusCode, resp.Header.Get("Otoroshi-Error-Cause"), body)
				}
			}
			be.SetMode("")
			c = dial(t, srv)
			if resp, _ := roundTrip(t, c, bufio.NewReader(c), get, "GET"); resp.StatusCode != 200 {
				t.Errorf("after the refusals: %d", resp.StatusCode)
			}
		})
	}
}

// TestAccessAndHeaderPlugins runs the access and header plugins through the
// proxy.
func TestAccessAndHeaderPlugins(t *testing.T) {
	be := startHeaderEcho(t)
	srv := startProxy(t, core.Config{})
	publishRoutes(t, srv, nil, 2,
		withPlugins(testRoute("cors.test", be), "Cors", `{"allow_origin":"https://app.test","allow_methods":["GET","POST"],"allow_headers":["x-token"],"max_age":60}`),
		withPlugins(testRoute("redirect.test", be), "Redirection", `{"code":307,"to":"https://new.test${req.uri}"}`),
		withPlugins(testRoute("maint.test", be), "MaintenanceMode", `{}`),
		withPlugins(testRoute("build.test", be), "BuildMode", `{}`),
		withPlugins(testRoute("ip.test", be), "IpAddressBlockList", `{"addresses":["127.0.0.0/8"]}`),
		withPlugins(testRoute("ipok.test", be), "IpAddressAllowedList", `{"addresses":["127.0.0.0/8","::1"]}`),
		withPlugins(testRoute("ro.test", be), "ReadOnlyCalls", `{}`),
		withPlugins(testRoute("methods.test", be), "AllowHttpMethods", `{"allowed":["GET"]}`),
		withPlugins(testRoute("http10.test", be), "DisableHttp10", `{}`),
		withPlugins(testRoute("hv.test", be), "HeadersValidation", `{"headers":{"X-Token":"Regex(t[0-9]+)"}}`),
		withPlugins(testRoute("headers.test", be),
			"RemoveHeadersIn", `{"header_names":["X-Secret"]}`,
			"AdditionalHeadersIn", `{"headers":{"X-Added":"${req.method}"}}`,
			"MissingHeadersIn", `{"headers":{"X-Maybe":"default"}}`,
			"AdditionalHeadersOut", `{"headers":{"X-Route":"${route.name}"}}`,
			"RemoveHeadersOut", `{"header_names":["Content-Type"]}`),
	)
	f := func(raw string, status int, check func(resp *http.Response, body string)) {
		t.Helper()
		c := dial(t, srv)
		method, _, _ := strings.Cut(raw, " ")
		resp, body := roundTrip(t, c, bufio.NewReader(c), raw, method)
		if resp.StatusCode != status {
			t.Fatalf("%q: status %d, want %d (cause %q, body %q)", raw, resp.StatusCode, status, resp.Header.Get("Otoroshi-Error-Cause"), body)
		}
		if check != nil {
			check(resp, body)
		}
	}
	cause := func(want string) func(*http.Response, string) {
		return func(resp *http.Response, body string) {
			t.Helper()
			if got := resp.Header.Get("Otoroshi-Error-Cause"); got != want || !strings.Contains(body, want) {
				t.Errorf("cause %q body %q, want %s", got, body, want)
			}
		}
	}
	f("OPTIONS /api HTTP/1.1\r\nHost: cors.test\r\nOrigin: https://app.test\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: X-Token\r\n\r\n", 204,
		func(resp *http.Response, _ string) {
			if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.test" || resp.Header.Get("Access-Control-Max-Age") != "60" ||
				resp.Header.Get("Access-Control-Allow-Methods") != "get, post" {
				t.Errorf("preflight fields %v", resp.Header)
			}
		})
	f("OPTIONS /api HTTP/1.1\r\nHost: cors.test\r\nOrigin: https://evil.test\r\nAccess-Control-Request-Method: POST\r\n\r\n", 404, cause("errors.cors.error"))
	f("GET /api HTTP/1.1\r\nHost: cors.test\r\nOrigin: https://app.test\r\n\r\n", 200, func(resp *http.Response, _ string) {
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.test" {
			t.Errorf("CORS fields missing on a proxied response: %v", resp.Header)
		}
	})
	f("GET /a/b?c=d HTTP/1.1\r\nHost: redirect.test\r\n\r\n", 307, func(resp *http.Response, _ string) {
		if resp.Header.Get("Location") != "https://new.test/a/b?c=d" {
			t.Errorf("Location %q", resp.Header.Get("Location"))
		}
	})
	f("GET / HTTP/1.1\r\nHost: maint.test\r\n\r\n", 503, cause("errors.service.in.maintenance"))
	f("GET / HTTP/1.1\r\nHost: build.test\r\n\r\n", 503, cause("errors.service.under.construction"))
	f("GET / HTTP/1.1\r\nHost: ip.test\r\n\r\n", 403, cause("errors.ip.address.not.allowed"))
	f("GET / HTTP/1.1\r\nHost: ipok.test\r\n\r\n", 200, nil)
	f("GET / HTTP/1.1\r\nHost: ro.test\r\n\r\n", 200, nil)
	f("DELETE / HTTP/1.1\r\nHost: ro.test\r\n\r\n", 405, cause("errors.method.not.allowed"))
	f("POST / HTTP/1.1\r\nHost: methods.test\r\nContent-Length: 0\r\n\r\n", 405, cause("errors.method.not.allowed"))
	f("GET / HTTP/1.0\r\nHost: http10.test\r\n\r\n", 503, cause("errors.http.1_0.not.allowed"))
	f("GET / HTTP/1.1\r\nHost: http10.test\r\n\r\n", 200, nil)
	f("GET / HTTP/1.1\r\nHost: hv.test\r\nX-Token: t42\r\n\r\n", 200, nil)
	f("GET / HTTP/1.1\r\nHost: hv.test\r\nX-Token: nope\r\n\r\n", 400, cause("errors.bad.request"))
	f("GET / HTTP/1.1\r\nHost: headers.test\r\nX-Secret: s\r\nX-Added: forged\r\nX-Maybe: mine\r\n\r\n", 200, func(resp *http.Response, body string) {
		names := strings.Split(strings.TrimSpace(body), "\n")
		seen := map[string]int{}
		for _, n := range names {
			seen[n]++
		}
		if seen["x-secret"] != 0 || seen["x-added"] != 1 || seen["x-maybe"] != 1 {
			t.Errorf("backend saw %v", names)
		}
		if resp.Header.Get("X-Route") != "headers.test" || resp.Header.Get("Content-Type") != "" {
			t.Errorf("response fields %v", resp.Header)
		}
	})
}

// TestXForwardedByPlugin: with Config.XForwardedByPlugin, only a route with
// the XForwardedHeaders plugin sends X-Forwarded-*, and a client's copies
// never pass.
func TestXForwardedByPlugin(t *testing.T) {
	be := startHeaderEcho(t)
	srv := startProxy(t, core.Config{XForwardedByPlugin: true})
	publishRoutes(t, srv, nil, 2, testRoute("plain.test", be), withPlugins(testRoute("xfwd.test", be), "XForwardedHeaders", `{}`))
	f := func(host string, want bool) {
		t.Helper()
		c := dial(t, srv)
		_, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: "+host+"\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n", "GET")
		names := strings.Split(strings.TrimSpace(body), "\n")
		got := 0
		for _, n := range names {
			if strings.HasPrefix(n, "x-forwarded-") {
				got++
			}
		}
		if want && got != 3 || !want && got != 0 {
			t.Errorf("%s: backend saw %v", host, names)
		}
	}
	f("plain.test", false)
	f("xfwd.test", true)
}
