package core_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
)

// keyRoute routes domain to the targets with the ApikeyCalls plugin (config
// cfg, "" for Otoroshi's defaults) and, when publicPaths is set, the
// PublicPrivatePaths plugin with that config.
func keyRoute(domain, cfg, publicPaths string, targets ...string) route.Route {
	r := testRoute(domain, targets...)
	p := route.Plugin{Enabled: true, Plugin: apikey.PluginApikeyCalls}
	if cfg != "" {
		p.Config = json.RawMessage(cfg)
	}
	r.Plugins = append(r.Plugins, p)
	if publicPaths != "" {
		r.Plugins = append(r.Plugins, route.Plugin{Enabled: true, Plugin: apikey.PluginPublicPrivatePaths, Config: json.RawMessage(publicPaths)})
	}
	return r
}

// testKey is a key authorized on the default group, without limits.
func testKey(id, secret string) apikey.ApiKey {
	k := apikey.Defaults()
	k.ClientID, k.ClientSecret, k.ClientName = id, secret, id
	k.AuthorizedEntities = []string{"group_default"}
	return k
}

// publishKeys compiles keys with the server's quota counters q and
// publishes routes, keys and global settings as one snapshot.
func publishKeys(t testing.TB, srv *core.Server, q *quota.Counters, version uint64, keys []apikey.ApiKey, g *core.Global, routes ...route.Route) *route.Table {
	t.Helper()
	table, err := route.Compile(routes, route.CompileOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	set, err := apikey.CompileWith(keys, apikey.CompileOptions{Counters: q})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := core.BuildSnapshot(table, set, g, version)
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(snap)
	return table
}

// startKeyProxy runs a proxy (2 loops) whose snapshot carries keys and g.
func startKeyProxy(t testing.TB, keys []apikey.ApiKey, g *core.Global, routes ...route.Route) (*core.Server, *quota.Counters) {
	t.Helper()
	q := quota.New(quota.Options{})
	srv := startProxy(t, core.Config{Quotas: q})
	publishKeys(t, srv, q, 2, keys, g, routes...)
	return srv, q
}

// startHeaderEcho runs a backend that answers the sorted lower-case names of
// the request header fields it received, one a line.
func startHeaderEcho(t testing.TB) string {
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for k := range r.Header {
			names = append(names, strings.ToLower(k))
		}
		sort.Strings(names)
		_, _ = io.WriteString(w, strings.Join(names, "\n"))
	}))
}

// hs256 returns a JWT signed with secret carrying claims.
func hs256(secret, claims string) string {
	enc := base64.RawURLEncoding
	msg := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(m.Sum(nil))
}

// dialExtractionKeys starts a proxy whose route domain, to be, needs one of
// two keys: abc (secret s3cr3t) and idonly, which may also authenticate with
// its client id alone; it returns a connection to it.
func dialExtractionKeys(t *testing.T, domain, be string) (net.Conn, *bufio.Reader) {
	t.Helper()
	idOnly := testKey("idonly", "idonly-secret")
	idOnly.AllowClientIDOnly = true
	srv, _ := startKeyProxy(t, []apikey.ApiKey{testKey("abc", "s3cr3t"), idOnly}, nil, keyRoute(domain, "", "", be))
	c := dial(t, srv)
	return c, bufio.NewReader(c)
}

// Every extraction method authenticates through the proxy; the credential
// fields never reach the backend; the quota headers come back.
func TestAPIKeyExtractionThroughProxy(t *testing.T) {
	be := startHeaderEcho(t)
	c, br := dialExtractionKeys(t, "keys.test", be)

	basic := base64.StdEncoding.EncodeToString([]byte("abc:s3cr3t"))
	jwt := hs256("s3cr3t", fmt.Sprintf(`{"clientId":"abc","exp":%d}`, time.Now().Add(time.Hour).Unix()))
	f := func(name, header string, creds ...string) {
		t.Helper()
		resp, body := roundTrip(t, c, br, "GET /x HTTP/1.1\r\nHost: keys.test\r\nX-Other: kept\r\n"+header+"\r\n\r\n", "GET")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d, body %q", name, resp.StatusCode, body)
		}
		seen := strings.Split(body, "\n")
		for _, cr := range creds {
			for _, s := range seen {
				if s == cr {
					t.Errorf("%s: credential header %q reached the backend", name, cr)
				}
			}
		}
		if !strings.Contains(body, "x-other") {
			t.Errorf("%s: other headers were dropped: %q", name, body)
		}
		if resp.Header.Get("Otoroshi-Daily-Calls-Remaining") == "" || resp.Header.Get("Otoroshi-Monthly-Calls-Remaining") == "" {
			t.Errorf("%s: no quota headers in %v", name, resp.Header)
		}
	}
	f("bearer in Authorization", "Authorization: Bearer "+apikey.BearerToken("abc", "s3cr3t"), "authorization")
	f("bearer in Otoroshi-Token", "Otoroshi-Token: "+apikey.BearerToken("abc", "s3cr3t"), "otoroshi-token")
	f("client id alone", "X-Api-Key: idonly", "x-api-key")
	f("client id and secret headers", "Otoroshi-Client-Id: abc\r\nOtoroshi-Client-Secret: s3cr3t", "otoroshi-client-id", "otoroshi-client-secret")
	f("jwt in Authorization", "Authorization: Bearer "+jwt, "authorization")
	f("basic in Authorization", "Authorization: Basic "+basic, "authorization")
	f("basic in Otoroshi-Authorization", "Otoroshi-Authorization: Basic "+basic, "otoroshi-authorization")

	// The daily count goes down by one per call.
	resp1, _ := roundTrip(t, c, br, "GET /x HTTP/1.1\r\nHost: keys.test\r\nX-Api-Key: idonly\r\n\r\n", "GET")
	resp2, _ := roundTrip(t, c, br, "GET /x HTTP/1.1\r\nHost: keys.test\r\nX-Api-Key: idonly\r\n\r\n", "GET")
	d1, _ := strconv.Atoi(resp1.Header.Get("Otoroshi-Daily-Calls-Remaining"))
	d2, _ := strconv.Atoi(resp2.Header.Get("Otoroshi-Daily-Calls-Remaining"))
	if d1-d2 != 1 {
		t.Errorf("daily remaining %d then %d, want a decrement of 1", d1, d2)
	}
}

// Every refusal gets Otoroshi's status, error id and JSON body, and the
// connection goes on with the next request.
func TestAPIKeyErrorsThroughProxy(t *testing.T) {
	be := startHeaderEcho(t)
	ro := testKey("ro", "ro-secret")
	ro.ReadOnly = true
	off := testKey("off", "off-secret")
	off.Enabled = false
	other := testKey("other", "other-secret")
	other.AuthorizedEntities = []string{"group_elsewhere"}
	keys := []apikey.ApiKey{testKey("abc", "s3cr3t"), ro, off, other}
	srv, _ := startKeyProxy(t, keys, nil, keyRoute("keys.test", "", "", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)

	f := func(method, header string, status int, cause string) {
		t.Helper()
		raw := method + " /x HTTP/1.1\r\nHost: keys.test\r\n" + header + "Content-Length: 0\r\n\r\n"
		resp, body := roundTrip(t, c, br, raw, method)
		if resp.StatusCode != status {
			t.Fatalf("%q: status %d, want %d (body %q)", header, resp.StatusCode, status, body)
		}
		if got := resp.Header.Get("Otoroshi-Error-Cause"); got != cause {
			t.Errorf("%q: Otoroshi-Error-Cause %q, want %q", header, got, cause)
		}
		var doc struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.Error != cause {
			t.Errorf("%q: body %q, want JSON with error %q", header, body, cause)
		}
		if resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%q: Content-Type %q", header, resp.Header.Get("Content-Type"))
		}
	}
	f("GET", "", 400, "errors.no.api.key")
	// Otoroshi's mapping, by extraction method (apikey.scala, see core/apikey/check_test.go).
	f("GET", "Authorization: Bearer "+apikey.BearerToken("abc", "wrong")+"\r\n", 401, "errors.invalid.api.key")
	f("GET", "Authorization: Bearer "+apikey.BearerToken("nobody", "s3cr3t")+"\r\n", 401, "errors.invalid.api.key")
	f("GET", "Otoroshi-Client-Id: abc\r\nOtoroshi-Client-Secret: nope\r\n", 401, "errors.bad.api.key")
	f("GET", "Otoroshi-Client-Id: nobody\r\nOtoroshi-Client-Secret: nope\r\n", 401, "errors.invalid.api.key")
	f("GET", "X-Api-Key: abc\r\n", 400, "errors.bad.api.key") // not allowClientIdOnly
	f("GET", "X-Api-Key: nobody\r\n", 401, "errors.invalid.api.key")
	f("GET", "Authorization: Basic !!!!\r\n", 400, "errors.no.api.key")
	f("GET", "Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("abc"))+"\r\n", 400, "errors.no.api.key")
	f("GET", "Otoroshi-Client-Id: abc\r\n", 400, "errors.no.api.key")
	f("GET", "Authorization: Bearer otoapk_abc\r\n", 401, "errors.invalid.api.key")
	f("GET", "Otoroshi-Client-Id: off\r\nOtoroshi-Client-Secret: off-secret\r\n", 401, "errors.bad.api.key")
	f("GET", "Otoroshi-Client-Id: other\r\nOtoroshi-Client-Secret: other-secret\r\n", 401, "errors.invalid.api.key")
	f("POST", "Otoroshi-Client-Id: ro\r\nOtoroshi-Client-Secret: ro-secret\r\n", 405, "errors.method.not.allowed")
	// And the connection still works.
	resp, body := roundTrip(t, c, br, "GET /x HTTP/1.1\r\nHost: keys.test\r\nOtoroshi-Client-Id: ro\r\nOtoroshi-Client-Secret: ro-secret\r\n\r\n", "GET")
	if resp.StatusCode != 200 {
		t.Fatalf("read-only key on GET: status %d, body %q", resp.StatusCode, body)
	}
}

// A route whose ApikeyCalls config does not compile refuses every request
// rather than skipping the check; BuildSnapshot names it.
func TestAPIKeyBrokenPolicyFailsClosed(t *testing.T) {
	be := startHeaderEcho(t)
	srv := startProxy(t, core.Config{})
	table, err := route.Compile([]route.Route{keyRoute("broken.test", `{"extractors":"nope"}`, "", be)}, route.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := core.BuildSnapshot(table, nil, nil, 3)
	if err == nil || !strings.Contains(err.Error(), "route_broken_test") {
		t.Fatalf("BuildSnapshot error %v, want one naming the route", err)
	}
	srv.Publish(snap)
	c := dial(t, srv)
	resp, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: broken.test\r\n\r\n", "GET")
	if resp.StatusCode != 500 || resp.Header.Get("Otoroshi-Error-Cause") != "errors.route.misconfigured" {
		t.Fatalf("status %d cause %q body %q", resp.StatusCode, resp.Header.Get("Otoroshi-Error-Cause"), body)
	}
	// A Snapshot literal published as is gets the same treatment.
	srv.Publish(&core.Snapshot{Routes: table, Version: 4})
	resp, _ = roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: broken.test\r\n\r\n", "GET")
	if resp.StatusCode != 500 {
		t.Fatalf("literal snapshot: status %d, want 500", resp.StatusCode)
	}
}

// Public paths pass without a key; private ones need it; include/exclude
// limit where the plugin runs.
func TestAPIKeyPublicPathsAndScope(t *testing.T) {
	be := startHeaderEcho(t)
	r := keyRoute("pub.test", "", `{"public_patterns":["/public/.*"],"private_patterns":["/public/secret"]}`, be)
	r2 := keyRoute("scope.test", "", "", be)
	r2.Plugins[0].Exclude = []string{"/health"}
	// PublicPrivatePaths alone (no ApikeyCalls) asks for no key.
	r3 := testRoute("nokey.test", be)
	r3.Plugins = route.Plugins{{Enabled: true, Plugin: apikey.PluginPublicPrivatePaths, Config: json.RawMessage(`{"private_patterns":["/.*"]}`)}}
	// A disabled ApikeyCalls plugin asks for no key either.
	r4 := keyRoute("off.test", "", "", be)
	r4.Plugins[0].Enabled = false
	srv, _ := startKeyProxy(t, []apikey.ApiKey{testKey("abc", "s3cr3t")}, nil, r, r2, r3, r4)
	c := dial(t, srv)
	br := bufio.NewReader(c)
	f := func(host, path string, status int) {
		t.Helper()
		resp, body := roundTrip(t, c, br, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n", "GET")
		if resp.StatusCode != status {
			t.Errorf("%s%s: status %d, want %d (body %q)", host, path, resp.StatusCode, status, body)
		}
	}
	f("pub.test", "/public/a", 200)
	f("pub.test", "/public/secret", 400)
	f("pub.test", "/private", 400)
	f("pub.test", "/public/%2e%2e/private", 400) // an encoded dot segment is never public
	f("scope.test", "/health", 200)
	f("scope.test", "/other", 400)
	f("nokey.test", "/private", 200)
	f("off.test", "/private", 200)
}

// A quota exhausted: 429 with Retry-After and the quota headers.
func TestAPIKeyQuotaExceeded(t *testing.T) {
	be := startHeaderEcho(t)
	k := testKey("small", "small-secret")
	k.DailyQuota = 3
	srv, _ := startKeyProxy(t, []apikey.ApiKey{k}, nil, keyRoute("keys.test", "", "", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	req := "GET / HTTP/1.1\r\nHost: keys.test\r\nOtoroshi-Client-Id: small\r\nOtoroshi-Client-Secret: small-secret\r\n\r\n"
	for i := range 3 {
		resp, body := roundTrip(t, c, br, req, "GET")
		if resp.StatusCode != 200 {
			t.Fatalf("call %d: status %d body %q", i, resp.StatusCode, body)
		}
		if got, want := resp.Header.Get("Otoroshi-Daily-Calls-Remaining"), strconv.Itoa(2-i); got != want {
			t.Errorf("call %d: daily remaining %q, want %q", i, got, want)
		}
	}
	resp, body := roundTrip(t, c, br, req, "GET")
	if resp.StatusCode != 429 || resp.Header.Get("Otoroshi-Error-Cause") != "errors.too.much.requests" {
		t.Fatalf("status %d cause %q body %q", resp.StatusCode, resp.Header.Get("Otoroshi-Error-Cause"), body)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 24*3600 {
		t.Errorf("Retry-After %q, want seconds until the end of the day", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("Otoroshi-Daily-Calls-Remaining") != "0" {
		t.Errorf("daily remaining on 429: %q", resp.Header.Get("Otoroshi-Daily-Calls-Remaining"))
	}
	if !strings.Contains(body, `"error":"errors.too.much.requests"`) {
		t.Errorf("body %q", body)
	}
	// A browser gets the page, with the same headers.
	resp, body = roundTrip(t, c, br, req[:len(req)-2]+"Accept: text/html\r\n\r\n", "GET")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Otoroshi-Monthly-Calls-Remaining") == "" ||
		!strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "errors.too.much.requests") {
		t.Errorf("HTML 429: status %d headers %v body %q", resp.StatusCode, resp.Header, body)
	}
	// The connection survives the 429.
	resp, _ = roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: keys.test\r\n\r\n", "GET")
	if resp.StatusCode != 400 {
		t.Errorf("next request on the connection: status %d, want 400", resp.StatusCode)
	}
}

// Concurrent clients on two loops against one key with a throttling quota
// of 1000 per 10-second window: exactly 1000 calls pass.
func TestAPIKeyExactThrottlingThroughProxy(t *testing.T) {
	be := startFixedBackend(t)
	k := testKey("thr", "thr-secret")
	k.ThrottlingQuota = 1000
	srv, _ := startKeyProxy(t, []apikey.ApiKey{k}, nil, keyRoute("thr.test", "", "", be))
	req := "GET / HTTP/1.1\r\nHost: thr.test\r\nAuthorization: Bearer " + apikey.BearerToken("thr", "thr-secret") + "\r\n\r\n"

	// Start at the beginning of a window so that the run fits in it.
	if left := quota.ThrottleWindow - time.Duration(time.Now().UnixNano())%quota.ThrottleWindow; left < 4*time.Second {
		time.Sleep(left + 50*time.Millisecond)
	}
	window := time.Now().UnixNano() / int64(quota.ThrottleWindow)
	const conns, perConn = 8, 200
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				other.Add(perConn)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			for range perConn {
				if _, err := io.WriteString(c, req); err != nil {
					other.Add(1)
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					other.Add(1)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if now := time.Now().UnixNano() / int64(quota.ThrottleWindow); now != window {
		t.Skipf("the run crossed a throttling window (%d ok, %d limited): machine too slow for this check", ok.Load(), limited.Load())
	}
	t.Logf("%d accepted, %d refused 429, %d other", ok.Load(), limited.Load(), other.Load())
	if ok.Load() != 1000 || limited.Load() != conns*perConn-1000 || other.Load() != 0 {
		t.Fatalf("%d accepted, %d refused, %d other; want exactly 1000 accepted and %d refused", ok.Load(), limited.Load(), other.Load(), conns*perConn-1000)
	}
}

// Global maintenance mode and IP lists run before the route's steps.
func TestGlobalMaintenanceAndIPLists(t *testing.T) {
	be := startHeaderEcho(t)
	q := quota.New(quota.Options{})
	srv := startProxy(t, core.Config{Quotas: q})
	rt := testRoute("open.test", be)
	f := func(g *core.Global, header string, status int, cause string) {
		t.Helper()
		publishKeys(t, srv, q, 5, nil, g, rt)
		c := dial(t, srv)
		resp, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: open.test\r\n"+header+"\r\n", "GET")
		if resp.StatusCode != status || resp.Header.Get("Otoroshi-Error-Cause") != cause {
			t.Errorf("%+v %q: status %d cause %q, want %d %q (body %q)", g, header, resp.StatusCode, resp.Header.Get("Otoroshi-Error-Cause"), status, cause, body)
		}
	}
	pfx := netip.MustParsePrefix
	f(nil, "", 200, "")
	f(&core.Global{}, "", 200, "")
	f(&core.Global{MaintenanceMode: true}, "", 503, "errors.service.in.maintenance")
	f(&core.Global{MaintenanceMode: true, IPAllow: []netip.Prefix{pfx("10.0.0.0/8")}}, "", 503, "errors.service.in.maintenance")
	f(&core.Global{IPBlock: []netip.Prefix{pfx("127.0.0.1/32")}}, "", 403, "errors.ip.address.not.allowed")
	f(&core.Global{IPAllow: []netip.Prefix{pfx("10.0.0.0/8")}}, "", 403, "errors.ip.address.not.allowed")
	f(&core.Global{IPAllow: []netip.Prefix{pfx("127.0.0.0/8")}}, "", 200, "")
	f(&core.Global{IPAllow: []netip.Prefix{pfx("127.0.0.0/8")}, IPBlock: []netip.Prefix{pfx("127.0.0.1/32")}}, "", 403, "errors.ip.address.not.allowed")
	// X-Forwarded-For only counts when trusted.
	f(&core.Global{IPAllow: []netip.Prefix{pfx("10.0.0.0/8")}}, "X-Forwarded-For: 10.1.2.3\r\n", 403, "errors.ip.address.not.allowed")
	f(&core.Global{IPAllow: []netip.Prefix{pfx("10.0.0.0/8")}, TrustXForwarded: true}, "X-Forwarded-For: 10.1.2.3, 127.0.0.1\r\n", 200, "")
	f(&core.Global{IPBlock: []netip.Prefix{pfx("10.0.0.0/8")}, TrustXForwarded: true}, "X-Forwarded-For: 10.1.2.3\r\n", 403, "errors.ip.address.not.allowed")
	f(&core.Global{IPBlock: []netip.Prefix{pfx("10.0.0.0/8")}, TrustXForwarded: true}, "X-Forwarded-For: garbage\r\n", 200, "")
}

// Sticky balancing: a request without the otoroshi-tracking cookie gets
// one, and the requests that send it back stay on one target.
func TestStickyTrackingCookie(t *testing.T) {
	var targets []string
	for i := range 3 {
		name := "b" + strconv.Itoa(i)
		targets = append(targets, startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, name)
		})))
	}
	r := testRoute("sticky.test", targets...)
	r.Backend.LoadBalancing.Type = "Sticky"
	srv := startProxy(t, core.Config{}, r)
	c := dial(t, srv)
	br := bufio.NewReader(c)
	seen := map[string]bool{}
	for range 12 {
		resp, first := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: sticky.test\r\n\r\n", "GET")
		var cookie *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == route.TrackingCookie {
				cookie = ck
			}
		}
		if cookie == nil || len(cookie.Value) != 32 || cookie.Path != "/" {
			t.Fatalf("no otoroshi-tracking cookie in %v", resp.Header)
		}
		seen[first] = true
		for range 5 {
			resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: sticky.test\r\nCookie: a=b; "+route.TrackingCookie+"="+cookie.Value+"\r\n\r\n", "GET")
			if body != first {
				t.Fatalf("tracked request went to %s, first to %s", body, first)
			}
			if len(resp.Cookies()) != 0 {
				t.Fatalf("cookie set again: %v", resp.Header)
			}
		}
	}
	if len(seen) < 2 {
		t.Errorf("12 new tracking ids all went to %v", seen)
	}
}

// newBenchClientFor is newBenchClient sending req, a request head whose
// response body is the fixed backend's "Hello, World!".
func newBenchClientFor(tb testing.TB, addr, req string) *benchClient {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	bc := &benchClient{c: c, req: []byte(req), tail: []byte("Hello, World!"), buf: make([]byte, 64<<10)}
	if _, err := c.Write(bc.req); err != nil {
		tb.Fatal(err)
	}
	n := 0
	for !strings.HasSuffix(string(bc.buf[:n]), "Hello, World!") {
		m, err := c.Read(bc.buf[n:])
		if err != nil {
			tb.Fatalf("cannot read the first response (%q): %v", bc.buf[:n], err)
		}
		n += m
	}
	bc.respLen = n
	return bc
}

// Global.ThrottlingQuota: 5 calls per second is 50 per 10-second window for
// the whole gateway, whatever the route or key; reloads keep the count.
func TestGlobalThrottlingQuota(t *testing.T) {
	be := startHeaderEcho(t)
	q := quota.New(quota.Options{})
	srv := startProxy(t, core.Config{Quotas: q})
	g := &core.Global{ThrottlingQuota: 5}
	publishKeys(t, srv, q, 2, nil, g, testRoute("a.test", be), testRoute("b.test", be))
	if left := quota.ThrottleWindow - time.Duration(time.Now().UnixNano())%quota.ThrottleWindow; left < 4*time.Second {
		time.Sleep(left + 50*time.Millisecond)
	}
	window := time.Now().UnixNano() / int64(quota.ThrottleWindow)
	c := dial(t, srv)
	br := bufio.NewReader(c)
	ok, limited := 0, 0
	for i := range 70 {
		if i == 30 {
			publishKeys(t, srv, q, 3, nil, g, testRoute("a.test", be), testRoute("b.test", be))
		}
		host := "a.test"
		if i%2 == 1 {
			host = "b.test"
		}
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: "+host+"\r\n\r\n", "GET")
		switch resp.StatusCode {
		case 200:
			ok++
		case 429:
			limited++
			ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 10 || resp.Header.Get("Otoroshi-Error-Cause") != "errors.too.much.requests" {
				t.Fatalf("429 with Retry-After %q cause %q", resp.Header.Get("Retry-After"), resp.Header.Get("Otoroshi-Error-Cause"))
			}
		default:
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	}
	if time.Now().UnixNano()/int64(quota.ThrottleWindow) != window {
		t.Skip("the run crossed a throttling window: machine too slow for this check")
	}
	if ok != 50 || limited != 20 {
		t.Errorf("%d served, %d refused; want 50 and 20", ok, limited)
	}
}

// Global.PerIPThrottlingQuota: 2 calls per second is 20 per 10-second window
// for each client address (here from a trusted X-Forwarded-For).
func TestGlobalPerIPThrottlingQuota(t *testing.T) {
	be := startHeaderEcho(t)
	q := quota.New(quota.Options{})
	srv := startProxy(t, core.Config{Quotas: q})
	publishKeys(t, srv, q, 2, nil, &core.Global{PerIPThrottlingQuota: 2, TrustXForwarded: true}, testRoute("ip.test", be))
	if left := quota.ThrottleWindow - time.Duration(time.Now().UnixNano())%quota.ThrottleWindow; left < 4*time.Second {
		time.Sleep(left + 50*time.Millisecond)
	}
	window := time.Now().UnixNano() / int64(quota.ThrottleWindow)
	c := dial(t, srv)
	br := bufio.NewReader(c)
	counts := map[string][2]int{}
	for i := range 75 {
		ip := []string{"10.0.0.1", "10.0.0.2", "2001:db8::1"}[i%3]
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: ip.test\r\nX-Forwarded-For: "+ip+"\r\n\r\n", "GET")
		n := counts[ip]
		switch resp.StatusCode {
		case 200:
			n[0]++
		case 429:
			n[1]++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After: %v", resp.Header)
			}
		default:
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		counts[ip] = n
	}
	if time.Now().UnixNano()/int64(quota.ThrottleWindow) != window {
		t.Skip("the run crossed a throttling window: machine too slow for this check")
	}
	for ip, n := range counts {
		if n != [2]int{20, 5} {
			t.Errorf("%s: %d served, %d refused; want 20 and 5", ip, n[0], n[1])
		}
	}
}
