package route

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCompileValidation(t *testing.T) {
	f := func(routeJSON, want string) {
		t.Helper()
		routes, err := DecodeRoutes([]byte("[" + routeJSON + "]"))
		if err != nil {
			t.Fatalf("cannot decode %s: %s", routeJSON, err)
		}
		tab, err := Compile(routes, CompileOptions{Resolver: noDNS})
		if err == nil {
			t.Fatalf("Compile(%s): want an error containing %q, got a table", routeJSON, want)
		}
		if tab != nil {
			t.Fatalf("Compile(%s): a failed compile must not return a table", routeJSON)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Compile(%s):\n error %q\n does not contain %q", routeJSON, err, want)
		}
	}
	const tg = `"targets":[{"hostname":"127.0.0.1","port":80}]`
	f(`{"frontend":{"domains":["a.com"]},"backend":{`+tg+`}}`, `route "#0": id: must not be empty`)
	f(`{"id":"r","frontend":{"domains":[]},"backend":{`+tg+`}}`, `route "r": frontend.domains: an enabled route needs at least one domain`)
	f(`{"id":"r","frontend":{"domains":["a..com"]},"backend":{`+tg+`}}`, `route "r": frontend.domains[0]: host "a..com"`)
	f(`{"id":"r","frontend":{"domains":["ok.com","a b.com"]},"backend":{`+tg+`}}`, `frontend.domains[1]: host "a b.com": invalid character`)
	f(`{"id":"r","frontend":{"domains":["a.**.com"]},"backend":{`+tg+`}}`, `"**" is not a valid wildcard`)
	f(`{"id":"r","frontend":{"domains":["a.*!.com"]},"backend":{`+tg+`}}`, `invalid character '!'`)
	f(`{"id":"r","frontend":{"domains":["a.com:8080"]},"backend":{`+tg+`}}`, `ports are not part of a domain`)
	f(`{"id":"r","frontend":{"domains":["a.com/x?y"]},"backend":{`+tg+`}}`, `frontend.domains[0]: path "/x?y"`)
	f(`{"id":"r","frontend":{"domains":["a.com"],"methods":["GE T"]},"backend":{`+tg+`}}`, `frontend.methods[0]: invalid method`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[]}}`, `backend.targets: an enabled route needs at least one target`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":0}]}}`, `backend.targets[0].port: must be within 1..65535, got 0`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":70000}]}}`, `backend.targets[0].port`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":80,"weight":-1}]}}`, `backend.targets[0].weight: must be >= 0`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":80,"weight":0}]}}`, `backend.targets: at least one target needs a weight > 0`)
	// Weights whose sum overflows int used to panic while building the round-robin sequence.
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"id":"a","hostname":"127.0.0.1","port":80,"weight":9223372036854775807},{"id":"b","hostname":"127.0.0.1","port":81,"weight":9223372036854775806}]}}`, `backend.targets[0].weight: must be <= 1000000`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"","port":80}]}}`, `backend.targets[0].hostname: must not be empty`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"id":"x","hostname":"127.0.0.1","port":80},{"id":"x","hostname":"127.0.0.1","port":81}]}}`, `backend.targets[1].id: duplicate target id "x"`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"client":{"call_timeout":-5},`+tg+`}}`, `backend.client.call_timeout: must be >= 0 ms`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"client":{"retries":-1},`+tg+`}}`, `backend.client.retries`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"root":"api",`+tg+`}}`, `backend.root: must be a path`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"load_balancing":{"type":"HeaderHash"},`+tg+`}}`, `backend.load_balancing: HeaderHash needs its header_name`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"load_balancing":{"type":"WeightedBestResponseTime","ratio":2},`+tg+`}}`, `backend.load_balancing.ratio`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"health_check":{"enabled":true,"url":"ftp://x"},`+tg+`}}`, `backend.health_check.url`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"health_check":{"enabled":true,"url":"/h","healthyStatuses":[99]},`+tg+`}}`, `backend.health_check: invalid status 99`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{`+tg+`},"plugins":[{"plugin":""}]}`, `plugins[0].plugin: must not be empty`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"x","port":80,"ip_address":"not-an-ip"}]}}`, `invalid ip_address "not-an-ip"`)
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend_ref":"backend_1","backend":{`+tg+`}}`, `route "r": backend_ref: stored backends ("backend_1") are not supported`)

	var many []string
	for i := range MaxTargets + 1 {
		many = append(many, fmt.Sprintf(`{"hostname":"127.0.0.1","port":%d}`, 1000+i))
	}
	f(`{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[`+strings.Join(many, ",")+`]}}`, `65 targets, at most 64`)
}

func TestCompileErrorsAreTyped(t *testing.T) {
	routes, _ := DecodeRoutes([]byte(`[{"id":"r","frontend":{"domains":["a..com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":0}]}}]`))
	_, err := Compile(routes, CompileOptions{})
	if !errors.Is(err, ErrInvalidRoute) {
		t.Fatalf("error %v does not wrap ErrInvalidRoute", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.RouteID != "r" {
		t.Fatalf("error %v carries no FieldError for route r", err)
	}
	// Every problem is reported at once.
	if msg := err.Error(); !strings.Contains(msg, "frontend.domains[0]") || !strings.Contains(msg, "backend.targets[0].port") {
		t.Fatalf("error %q should name both bad fields", msg)
	}
}

func TestCompileConflicts(t *testing.T) {
	f := func(a, b string, conflict bool) {
		t.Helper()
		js := fmt.Sprintf(`[{"id":"first","frontend":%s,"backend":{"targets":[{"hostname":"127.0.0.1","port":80}]}},
		 {"id":"second","frontend":%s,"backend":{"targets":[{"hostname":"127.0.0.1","port":81}]}}]`, a, b)
		routes, err := DecodeRoutes([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compile(routes, CompileOptions{})
		if !conflict {
			if err != nil {
				t.Fatalf("%s vs %s: unexpected error %s", a, b, err)
			}
			return
		}
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `"first"`) || !strings.Contains(err.Error(), `"second"`) {
			t.Fatalf("%s vs %s: error %v, want a conflict naming both routes", a, b, err)
		}
	}
	f(`{"domains":["a.com"]}`, `{"domains":["A.com"]}`, true)
	f(`{"domains":["a.com/x"]}`, `{"domains":["b.com","a.com/x"]}`, true)
	f(`{"domains":["*.a.com"]}`, `{"domains":["*.a.com"]}`, true)
	f(`{"domains":["a.com"],"headers":{"X":"1"}}`, `{"domains":["a.com"],"headers":{"x":"1"}}`, true)
	f(`{"domains":["a.com"],"methods":["GET","POST"]}`, `{"domains":["a.com"],"methods":["post","get"]}`, true)
	f(`{"domains":["a.com"]}`, `{"domains":["a.com/x"]}`, false)
	f(`{"domains":["a.com"]}`, `{"domains":["a.com"],"exact":true}`, false)
	f(`{"domains":["a.com"]}`, `{"domains":["a.com"],"methods":["GET"]}`, false)
	f(`{"domains":["a.com"],"query":{"v":"1"}}`, `{"domains":["a.com"],"query":{"v":"2"}}`, false)
	f(`{"domains":["a.com"]}`, `{"domains":["*.a.com"]}`, false)

	// A disabled route never conflicts.
	routes, _ := DecodeRoutes([]byte(`[{"id":"a","frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":80}]}},
	 {"id":"b","enabled":false,"frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":80}]}}]`))
	if _, err := Compile(routes, CompileOptions{}); err != nil {
		t.Fatalf("disabled duplicate: %s", err)
	}
	// Duplicate ids are rejected.
	routes, _ = DecodeRoutes([]byte(`[{"id":"a","frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":80}]}},
	 {"id":"a","frontend":{"domains":["b.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":80}]}}]`))
	if _, err := Compile(routes, CompileOptions{}); err == nil || !strings.Contains(err.Error(), `route "a": id: duplicate of routes[0]`) {
		t.Fatalf("duplicate id: error %v", err)
	}
}

func TestCompilePluginsAndWarnings(t *testing.T) {
	tab := mustCompile(t, `[{"id":"r","backend_ref":null,"frontend":{"domains":["a.com"]},"backend":{"rewrite":true,"target_refs":["t_1"],
	 "targets":[{"hostname":"127.0.0.1","port":80,"protocol":"HTTP/3.0"},{"hostname":"127.0.0.2","port":80,"protocol":"HTTP/2.0"}]},
	 "plugins":[
	  {"plugin":"cp:otoroshi.next.plugins.OverrideHost"},
	  {"plugin":"cp:otoroshi.next.plugins.ApikeyCalls","enabled":false},
	  {"plugin":"cp:otoroshi.next.tunnel.TunnelPlugin","config":{"tunnel_id":"default"}},
	  {"plugin":"cp:otoroshi.next.plugins.SnowMonkeyChaos","include":["/api"],"config":{"allow_origin":"*"}}]}]`, CompileOptions{})
	c := tab.Route("r")
	if ups := c.pool.ups; ups[0].H2 || !ups[1].H2 {
		t.Fatalf("protocol HTTP/3.0 must be HTTP/1.1 (warned), HTTP/2.0 HTTP/2: H2 %v %v", ups[0].H2, ups[1].H2)
	}
	if len(c.Steps) != 3 {
		t.Fatalf("steps %+v, want the 3 enabled plugins", c.Steps)
	}
	f := func(s Step, index int, name string, supported bool) {
		t.Helper()
		if s.Index != index || s.Name != name || s.Supported != supported {
			t.Fatalf("step %+v, want index %d name %s supported %v", s, index, name, supported)
		}
	}
	f(c.Steps[0], 0, "OverrideHost", true)
	f(c.Steps[1], 2, "cp:otoroshi.next.tunnel.TunnelPlugin", false)
	f(c.Steps[2], 3, "SnowMonkeyChaos", false)
	if string(c.Steps[2].Config) != `{"allow_origin":"*"}` || c.Steps[2].Include[0] != "/api" {
		t.Fatalf("SnowMonkeyChaos step lost its config: %+v", c.Steps[2])
	}
	fields := map[string]bool{}
	for _, w := range tab.Warnings() {
		fields[w.Field] = true
		if w.RouteID != "r" || w.String() == "" {
			t.Fatalf("bad warning %+v", w)
		}
	}
	for _, want := range []string{"plugins[2]", "plugins[3]", "backend.rewrite", "backend.targets[0].protocol", "backend.target_refs"} {
		if !fields[want] {
			t.Fatalf("warnings %v miss %s", tab.Warnings(), want)
		}
	}
}

func TestCompileResolvesTargets(t *testing.T) {
	tab := mustCompile(t, `[{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[
	 {"id":"l","hostname":"localhost","port":8080},
	 {"id":"v6","hostname":"::1","port":8081},
	 {"id":"ip","hostname":"backend.internal","port":8082,"ip_address":"10.1.2.3"}]}}]`, CompileOptions{})
	ups := tab.Route("r").Upstreams()
	f := func(u Upstream, addr, hostPort, key string) {
		t.Helper()
		if u.Addr != netip.MustParseAddrPort(addr) || u.HostPort != hostPort || u.Key != key {
			t.Fatalf("upstream %+v, want addr %s hostport %s key %s", u, addr, hostPort, key)
		}
	}
	f(ups[0], "127.0.0.1:8080", "localhost:8080", `"r"/"l"@127.0.0.1:8080`)
	f(ups[1], "[::1]:8081", "[::1]:8081", `"r"/"v6"@[::1]:8081`)
	f(ups[2], "10.1.2.3:8082", "backend.internal:8082", `"r"/"ip"@10.1.2.3:8082`)
	if targetKey("a/b", "c", ups[0].Addr) == targetKey("a", "b/c", ups[0].Addr) {
		t.Fatalf("target keys are ambiguous")
	}
	if !tab.HasAddr(netip.MustParseAddrPort("10.1.2.3:8082")) || tab.addrs.Len() != 3 {
		t.Fatalf("HasAddr disagrees with the upstreams")
	}
}

func TestHotSwapKeepsStateAndDrainsRemoved(t *testing.T) {
	reg := NewRegistry()
	js1 := `[{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"id":"x","hostname":"127.0.0.1","port":1},{"id":"y","hostname":"127.0.0.1","port":2}]}}]`
	js2 := `[{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"id":"x","hostname":"127.0.0.1","port":1}]}}]`
	t1 := mustCompile(t, js1, CompileOptions{Registry: reg})
	y := &t1.Route("r").Upstreams()[1]
	y.Acquire() // a request in flight on the old table
	t2 := mustCompile(t, js2, CompileOptions{Registry: reg})
	if t2.HasTarget(y.Key) || !t1.HasTarget(y.Key) {
		t.Fatalf("HasTarget: the new table must not have the removed target")
	}
	if t2.HasAddr(y.Addr) {
		t.Fatalf("HasAddr: the removed address is still listed")
	}
	x1, x2 := &t1.Route("r").Upstreams()[0], &t2.Route("r").Upstreams()[0]
	if x1.State() != x2.State() {
		t.Fatalf("the kept target must share its state across tables")
	}
	reg.Prune(t2)
	if reg.Len() != 1 || reg.Lookup(x1.Key) == nil || reg.Lookup(y.Key) != nil {
		t.Fatalf("Prune kept %d states", reg.Len())
	}
	// The in-flight request on the old table completes on its own state.
	t1.Route("r").Report(y, true, time.Millisecond)
	y.Release()
	if y.State().InFlight() != 0 {
		t.Fatalf("in flight = %d after Release", y.State().InFlight())
	}
	// The old table still routes, so in-flight requests never fail.
	req, buf := request("GET", "a.com", "/")
	if t1.Match(req, buf) == nil || t2.Match(req, buf) == nil {
		t.Fatalf("both tables must keep matching")
	}
}

func TestRetryPolicy(t *testing.T) {
	tab := mustCompile(t, `[{"id":"r","frontend":{"domains":["a.com"]},"backend":{"client":{"retries":3,"retry_initial_delay":50,"backoff_factor":2},
	 "targets":[{"hostname":"127.0.0.1","port":1}]}}]`, CompileOptions{})
	c := tab.Route("r")
	f := func(attempt int, want time.Duration) {
		t.Helper()
		if got := c.RetryDelay(attempt); got != want {
			t.Fatalf("RetryDelay(%d) = %s, want %s", attempt, got, want)
		}
	}
	f(0, 0)
	f(1, 50*time.Millisecond)
	f(2, 100*time.Millisecond)
	f(3, 200*time.Millisecond)
	f(40, maxRetryDelay)
	if c.MaxAttempts() != 4 {
		t.Fatalf("MaxAttempts = %d, want 4", c.MaxAttempts())
	}
	g := func(attempts int, m string, connectFailed, started, want bool) {
		t.Helper()
		kind := methodKinds[m]
		if got := c.ShouldRetry(attempts, kind, connectFailed, started); got != want {
			t.Fatalf("ShouldRetry(%d, %s, connect=%v, started=%v) = %v, want %v", attempts, m, connectFailed, started, got, want)
		}
	}
	g(1, "GET", false, false, true)
	g(1, "POST", false, false, false)
	g(1, "POST", true, false, true)
	g(1, "GET", false, true, false)
	g(4, "GET", true, false, false)
	for m, want := range map[string]bool{"GET": true, "HEAD": true, "PUT": true, "DELETE": true, "OPTIONS": true, "TRACE": true, "POST": false, "PATCH": false, "CONNECT": false} {
		if IdempotentMethod(methodKinds[m]) != want {
			t.Fatalf("IdempotentMethod(%s) != %v", m, want)
		}
	}
}
