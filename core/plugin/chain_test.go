package plugin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

func TestCompileNoPlugins(t *testing.T) {
	c, err := chainOf(t, "ApikeyCalls", `{}`, "OverrideHost", `{}`)
	if c != nil || err != nil {
		t.Fatalf("Compile = %v, %v; want nil, nil", c, err)
	}
	// A nil chain runs nothing.
	x := parseReq(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if v := c.Access(x, &Exchange{}); v.Refuse != RefusalNone || v.Respond {
		t.Fatal("nil chain refused")
	}
	if c.DropRequest([]byte("x"), &Exchange{}) || c.DropResponse([]byte("x"), &Exchange{}) || len(c.AppendRequest(nil, x, &Exchange{})) != 0 {
		t.Fatal("nil chain acted")
	}
}

func TestCompileErrorsNameEveryField(t *testing.T) {
	_, err := chainOf(t,
		"AdditionalHeadersIn", `{"headers":{"bad name":"v","X-Ok":"${req.nope}","Content-Length":"1"}}`,
		"IpAddressAllowedList", `{"addresses":["10.0.0.0/33","not-an-ip","10.0.0.1"]}`,
		"Redirection", `{"code":200}`,
		"OtoroshiChallenge", `{"version":"V3","ttl":-1,"algo_to_backend":{"type":"HSAlgoSettings","size":100,"secret":"s"}}`,
		"OtoroshiInfos", `{"version":"Url"}`,
		"Cors", `{"excluded_patterns":["("],"max_age":"x"}`,
		"HeadersValidation", `{"headers":{"x":"Regex([)"}}`,
		"AllowHttpMethods", `{"allowed":"GET"}`,
		"MaintenanceMode", `[1]`,
		"AdditionalHeadersOut", `{"headers":{"X-Path":"${req.path}"}}`,
	)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{
		`plugins[0].config.headers.bad name`, `plugins[0].config.headers.X-Ok`, `req.nope`, `plugins[0].config.headers.Content-Length`,
		`plugins[1].config.addresses[0]`, `plugins[1].config.addresses[1]`,
		`plugins[2].config.code`, `got 200`,
		`plugins[3].config.version`, `plugins[3].config.ttl`, `plugins[3].config.algo_to_backend.size`,
		`plugins[4].config.version`,
		`plugins[5].config.excluded_patterns[0]`, `plugins[5].config.max_age`,
		`plugins[6].config.headers.x`,
		`plugins[7].config.allowed`,
		`plugins[8].config`,
		`plugins[9].config.headers.X-Path`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
}

func TestHeaders(t *testing.T) {
	c := mustChain(t,
		"AdditionalHeadersIn", `{"headers":{"X-Req-Id":"${req.id}","X-Client":"${apikey.clientId}","Host":"internal.example"}}`,
		"MissingHeadersIn", `{"headers":{"X-Present":"no","X-Absent":"yes"}}`,
		"RemoveHeadersIn", `{"header_names":["X-Secret"]}`,
		"AdditionalHeadersOut", `{"headers":{"X-Out":"${route.name}"}}`,
		"MissingHeadersOut", `{"headers":{"Server":"torii","X-Miss":"1"}}`,
		"RemoveHeadersOut", `{"header_names":["X-Powered-By"]}`)
	x := parseReq(t, "GET / HTTP/1.1\r\nHost: a\r\nX-Present: client\r\nX-Secret: s\r\nX-Req-Id: forged\r\n\r\n")
	x.Key = testKey()
	for name, want := range map[string]bool{"x-secret": true, "X-SECRET": true, "x-req-id": true, "x-client": true, "x-present": false, "x-other": false} {
		if got := c.DropRequest([]byte(name), &Exchange{}); got != want {
			t.Errorf("DropRequest(%s) = %v", name, got)
		}
	}
	got := string(c.AppendRequest(nil, x, &Exchange{}))
	want := "X-Client: cid1\r\nX-Req-Id: 42\r\nX-Absent: yes\r\n"
	if got != want {
		t.Errorf("AppendRequest = %q, want %q", got, want)
	}
	if !c.HasHost(&Exchange{}) || string(c.AppendHost(nil, x)) != "internal.example" {
		t.Errorf("Host override not set")
	}
	rbuf := []byte("HTTP/1.1 200 OK\r\nServer: nginx\r\nX-Powered-By: php\r\nContent-Length: 0\r\n\r\n")
	resp := &httpparse.Response{Headers: make([]httpparse.Header, 0, 8)}
	if _, err := httpparse.ParseResponse(rbuf, resp, &httpparse.Limits{}); err != nil {
		t.Fatal(err)
	}
	if !c.DropResponse([]byte("x-powered-by"), &Exchange{}) || !c.DropResponse([]byte("X-Out"), &Exchange{}) || c.DropResponse([]byte("server"), &Exchange{}) {
		t.Error("DropResponse wrong")
	}
	if got := string(c.AppendResponse(nil, x, &Exchange{}, resp, rbuf)); got != "X-Out: my-route\r\nX-Miss: 1\r\n" {
		t.Errorf("AppendResponse = %q", got)
	}
}

func TestAccess(t *testing.T) {
	f := func(plugin, cfg, raw string, remote string, want Refusal, respond string) {
		t.Helper()
		c := mustChain(t, plugin, cfg)
		x := parseReq(t, raw)
		if remote != "" {
			x.Remote = netip.MustParseAddr(remote)
		}
		v := c.Access(x, &Exchange{})
		if v.Refuse != want {
			t.Errorf("%s %s on %q from %s: refusal %d, want %d", plugin, cfg, raw, remote, v.Refuse, want)
		}
		if got := string(v.AppendAnswer(nil, x)); got != respond {
			t.Errorf("%s: answer %q, want %q", plugin, got, respond)
		}
	}
	get := "GET /p HTTP/1.1\r\nHost: a\r\n\r\n"
	post := "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
	f("MaintenanceMode", `{}`, get, "", RefusalMaintenance, "")
	f("BuildMode", `{}`, get, "", RefusalBuild, "")
	f("DisableHttp10", `{}`, "GET / HTTP/1.0\r\n\r\n", "", RefusalHTTP10, "")
	f("DisableHttp10", `{}`, get, "", RefusalNone, "")
	f("ReadOnlyCalls", `{}`, get, "", RefusalNone, "")
	f("ReadOnlyCalls", `{}`, post, "", RefusalMethod, "")
	f("AllowHttpMethods", `{"allowed":["GET"]}`, post, "", RefusalMethod, "")
	f("AllowHttpMethods", `{"allowed":["get","POST"],"forbidden":["post"]}`, post, "", RefusalMethod, "")
	f("AllowHttpMethods", `{"forbidden":["DELETE"]}`, post, "", RefusalNone, "")
	f("IpAddressAllowedList", `{"addresses":["10.0.0.0/8"]}`, get, "10.9.9.9", RefusalNone, "")
	f("IpAddressAllowedList", `{"addresses":["10.0.0.0/8","::1"]}`, get, "192.168.1.1", RefusalIP, "")
	f("IpAddressAllowedList", `{"addresses":["192.168.1.*"]}`, get, "192.168.1.7", RefusalNone, "")
	f("IpAddressBlockList", `{"addresses":["192.168.0.0/16"]}`, get, "192.168.1.1", RefusalIP, "")
	f("IpAddressBlockList", `{"addresses":["2001:db8::/32"]}`, get, "2001:db8::5", RefusalIP, "")
	f("IpAddressBlockList", `{"addresses":["192.168.0.0/16"]}`, get, "10.0.0.1", RefusalNone, "")
	f("Redirection", `{"code":301,"to":"https://new.example${req.uri}"}`, get, "", RefusalNone,
		"HTTP/1.1 301 Moved Permanently\r\nLocation: https://new.example/p\r\n")
	f("Redirection", `{}`, get, "", RefusalNone, "HTTP/1.1 303 See Other\r\nLocation: https://www.otoroshi.io\r\n")
	hv := `{"headers":{"X-A":"exact","X-B":"Regex(v[0-9]+)","X-C":"Not(bad)","X-D":"ContainedIn(a, b)"}}`
	f("HeadersValidation", hv, "GET / HTTP/1.1\r\nX-A: exact\r\nX-B: v12\r\nX-C: ok\r\nX-D: b\r\n\r\n", "", RefusalNone, "")
	f("HeadersValidation", hv, "GET / HTTP/1.1\r\nX-A: exact\r\nX-B: v12\r\nX-C: bad\r\nX-D: b\r\n\r\n", "", RefusalHeaders, "")
	f("HeadersValidation", hv, "GET / HTTP/1.1\r\nX-A: exact\r\nX-B: w\r\nX-C: ok\r\nX-D: b\r\n\r\n", "", RefusalHeaders, "")
	f("HeadersValidation", hv, "GET / HTTP/1.1\r\nX-B: v1\r\nX-C: ok\r\nX-D: b\r\n\r\n", "", RefusalHeaders, "")
}

func TestCors(t *testing.T) {
	cfg := `{"allow_origin":"https://app.example","allow_methods":["GET","POST"],"allow_headers":["X-Token"],"expose_headers":["X-Id"],"max_age":600,"allow_credentials":true,"excluded_patterns":["/private/.*"]}`
	c := mustChain(t, "Cors", cfg)
	fields := "Access-Control-Allow-Origin: https://app.example\r\nAccess-Control-Allow-Credentials: true\r\n" +
		"Access-Control-Expose-Headers: X-Id\r\nAccess-Control-Allow-Headers: x-token\r\nAccess-Control-Allow-Methods: get, post\r\nAccess-Control-Max-Age: 600\r\n"
	f := func(raw string, want Refusal, answer string) {
		t.Helper()
		x := parseReq(t, raw)
		v := c.Access(x, &Exchange{})
		if v.Refuse != want || string(v.AppendAnswer(nil, x)) != answer {
			t.Errorf("%q: %d %q, want %d %q", raw, v.Refuse, v.AppendAnswer(nil, x), want, answer)
		}
	}
	pre := "OPTIONS /api HTTP/1.1\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-token\r\n\r\n"
	f(pre, RefusalNone, "HTTP/1.1 204 No Content\r\n"+fields)
	f(strings.Replace(pre, "app.example", "evil.example", 1), RefusalCors, "")
	f(strings.Replace(pre, "POST", "DELETE", 1), RefusalCors, "")
	f(strings.Replace(pre, "x-token", "x-token, x-other", 1), RefusalCors, "")
	f("OPTIONS /api HTTP/1.1\r\n\r\n", RefusalNone, "") // not a preflight: proxied
	x := parseReq(t, "GET /api HTTP/1.1\r\n\r\n")
	if got := string(c.AppendResponse(nil, x, &Exchange{}, nil, nil)); got != fields {
		t.Errorf("response fields %q", got)
	}
	x = parseReq(t, "GET /private/x HTTP/1.1\r\n\r\n")
	var xs Exchange
	c.Access(x, &xs)
	if got := string(c.AppendResponse(nil, x, &xs, nil, nil)); got != "" {
		t.Errorf("excluded path got %q", got)
	}
}

// decodeClaims returns a token's payload without checking it.
func decodeClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("payload %s: %v", raw, err)
	}
	return m
}

// fieldValue returns the value of "Name: value\r\n" in head.
func fieldValue(head, name string) string {
	for _, l := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func TestInfosShapes(t *testing.T) {
	x := parseReq(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	x.Now = x.Now.Add(0)
	x.Key = testKey()
	verify := func(tok string) map[string]any {
		t.Helper()
		parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte("secret"), nil },
			jwt.WithValidMethods([]string{"HS512"}), jwt.WithoutClaimsValidation())
		if err != nil || !parsed.Valid {
			t.Fatalf("golang-jwt refuses %q: %v", tok, err)
		}
		return decodeClaims(t, tok)
	}
	latest := mustChain(t, "OtoroshiInfos", `{"version":"Latest","ttl":30,"add_fields":{"team":"${apikey.metadata.env}"}}`)
	m := verify(fieldValue(string(latest.AppendRequest(nil, x, &Exchange{})), "Otoroshi-Claim"))
	iat := float64(x.Now.Unix())
	for k, want := range map[string]any{"iss": "Otoroshi", "sub": "client one", "aud": "my-route", "iat": iat, "nbr": iat, "exp": iat + 30,
		"access_type": "apikey", "team": "prod"} {
		if m[k] != want {
			t.Errorf("Latest %s = %v, want %v", k, m[k], want)
		}
	}
	ak, _ := m["apikey"].(map[string]any)
	if ak["clientId"] != "cid1" || ak["clientName"] != "client one" || ak["metadata"].(map[string]any)["env"] != "prod" || len(ak["tags"].([]any)) != 2 {
		t.Errorf("Latest apikey = %v", m["apikey"])
	}
	if jti, _ := m["jti"].(string); len(jti) != 36 {
		t.Errorf("jti %q", jti)
	}

	legacy := mustChain(t, "OtoroshiInfos", `{"version":"Legacy","header_name":"X-Claim"}`)
	m = verify(fieldValue(string(legacy.AppendRequest(nil, x, &Exchange{})), "X-Claim"))
	for k, want := range map[string]any{"sub": "apikey:cid1", "name": "client one", "user_id": "cid1", "env": "prod",
		"metadata": `{"env":"prod"}`, "tags": `["t1","t2"]`} {
		if m[k] != want {
			t.Errorf("Legacy %s = %#v, want %#v", k, m[k], want)
		}
	}
	var light map[string]any
	if err := json.Unmarshal([]byte(m["apikey"].(string)), &light); err != nil || light["clientId"] != "cid1" {
		t.Errorf("Legacy apikey = %v (%v)", m["apikey"], err)
	}

	x.Key = nil
	m = verify(fieldValue(string(latest.AppendRequest(nil, x, &Exchange{})), "Otoroshi-Claim"))
	if m["sub"] != "public" || m["access_type"] != "public" || m["apikey"] != nil {
		t.Errorf("public Latest = %v", m)
	}
	m = verify(fieldValue(string(legacy.AppendRequest(nil, x, &Exchange{})), "X-Claim"))
	if m["sub"] != "--" {
		t.Errorf("public Legacy = %v", m)
	}
}

// TestKnownPlugins: every plugin this package runs is known to the route
// compiler, so that it is not reported as unsupported.
func TestKnownPlugins(t *testing.T) {
	for _, n := range Names {
		if !route.Known(n) {
			t.Errorf("route.Known(%q) = false", n)
		}
	}
}

// TestIncludeExclude: a step runs only on paths its include patterns match
// (all when none) and its exclude patterns do not.
func TestIncludeExclude(t *testing.T) {
	rt := &route.Compiled{ID: "r", Name: "r", Steps: []route.Step{
		{Index: 0, Name: "MaintenanceMode", Include: []string{"/admin/.*"}},
		{Index: 1, Name: "AdditionalHeadersIn", Exclude: []string{"/public/.*"}, Config: json.RawMessage(`{"headers":{"X-A":"1"}}`)},
		{Index: 2, Name: "OtoroshiChallenge", Exclude: []string{"/public/.*"}, Config: json.RawMessage(`{"version":"V1"}`)},
	}}
	c, err := Compile(rt)
	if err != nil {
		t.Fatal(err)
	}
	f := func(path string, refused bool, head string, checks bool) {
		t.Helper()
		x := parseReq(t, "GET "+path+" HTTP/1.1\r\n\r\n")
		var xs Exchange
		if v := c.Access(x, &xs); (v.Refuse != RefusalNone) != refused {
			t.Errorf("%s: refusal %d", path, v.Refuse)
		}
		got := string(c.AppendRequest(nil, x, &xs))
		if fieldValue(got, "X-A") != head {
			t.Errorf("%s: head %q", path, got)
		}
		if c.Checks(&xs) != checks || (fieldValue(got, "Otoroshi-State") != "") != checks {
			t.Errorf("%s: challenge %v, head %q", path, c.Checks(&xs), got)
		}
		if !c.DropRequest([]byte("otoroshi-state"), &xs) {
			t.Errorf("%s: a client's Otoroshi-State must never pass", path)
		}
	}
	f("/admin/x", true, "1", true)
	f("/api", false, "1", true)
	f("/public/x", false, "", false)
	_, err = Compile(&route.Compiled{Steps: []route.Step{{Index: 4, Name: "Cors", Include: []string{"("}}}})
	if err == nil || !strings.Contains(err.Error(), "plugins[4].include[0]") {
		t.Errorf("bad include: %v", err)
	}
}
