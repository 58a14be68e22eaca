package route

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeRoutesTunnelExportRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/otoroshi-export-tunnel-demo.json")
	if err != nil {
		t.Fatalf("cannot read the Otoroshi export: %s", err)
	}
	routes, err := DecodeRoutes(data)
	if err != nil {
		t.Fatalf("cannot decode export: %s", err)
	}
	if len(routes) != 1 {
		t.Fatalf("got %d routes, want 1", len(routes))
	}
	r := routes[0]
	if r.ID != "route_dd78a69e0-26b7-4587-b9e1-a9073cd18868" || r.Name != "exposed-whoami" || !r.Enabled {
		t.Fatalf("unexpected route head: %+v", r)
	}
	if got := r.Backend.Targets[0]; got.Hostname != "whoami-next-gen.oto.tools" || got.Port != 8080 || got.Weight != 1 {
		t.Fatalf("unexpected target: %+v", got)
	}
	if _, ok := r.Extra["_loc"]; !ok {
		t.Fatalf("_loc was not kept in Extra")
	}
	if len(r.Plugins) != 2 || r.Plugins[1].Plugin != "cp:otoroshi.next.tunnel.TunnelPlugin" {
		t.Fatalf("unexpected plugins: %+v", r.Plugins)
	}

	// Re-encode and compare with the original route as generic JSON: nothing lost or added.
	var doc struct {
		Routes []any `json:"routes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(routes[0])
	if err != nil {
		t.Fatalf("cannot encode route: %s", err)
	}
	var back any
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, doc.Routes[0]) {
		want, _ := json.MarshalIndent(doc.Routes[0], "", " ")
		got, _ := json.MarshalIndent(back, "", " ")
		t.Fatalf("round trip differs\nwant %s\ngot  %s", want, got)
	}
}

func TestDecodeRoutesDefaults(t *testing.T) {
	routes, err := DecodeRoutes([]byte(`[{"id":"r1","frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"127.0.0.1"}]},"plugins":[{"plugin":"x"}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	r := routes[0]
	if !r.Enabled || !r.Frontend.StripPath || r.Frontend.Exact {
		t.Fatalf("bad route defaults: %+v", r)
	}
	if !reflect.DeepEqual(r.Groups, []string{"default"}) {
		t.Fatalf("groups = %v, want [default]", r.Groups)
	}
	if r.Backend.Root != "/" || r.Backend.LoadBalancing.Type != "RoundRobin" {
		t.Fatalf("bad backend defaults: %+v", r.Backend)
	}
	if !reflect.DeepEqual(r.Backend.Client, DefaultClientConfig()) {
		t.Fatalf("client = %+v, want defaults", r.Backend.Client)
	}
	tg := r.Backend.Targets[0]
	if tg.Weight != 1 || tg.Port != 80 || tg.Protocol != "HTTP/1.1" || tg.Backup {
		t.Fatalf("bad target defaults: %+v", tg)
	}
	if !r.Plugins[0].Enabled {
		t.Fatalf("plugin enabled should default to true")
	}
	routes, err = DecodeRoutes([]byte(`{"routes":[{"id":"r2","backend":{"targets":[{"hostname":"h","tls":true}],"health_check":{"enabled":true,"url":"/h"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p := routes[0].Backend.Targets[0].Port; p != 443 {
		t.Fatalf("tls target port = %d, want 443", p)
	}
	if hc := routes[0].Backend.HealthCheck; hc == nil || hc.Timeout != 5000 || !hc.Enabled {
		t.Fatalf("bad health check defaults: %+v", hc)
	}
}

func TestDecodeRoutesErrors(t *testing.T) {
	f := func(in, wantInMsg string) {
		t.Helper()
		_, err := DecodeRoutes([]byte(in))
		if err == nil {
			t.Fatalf("DecodeRoutes(%s): want an error", in)
		}
		if !errors.Is(err, ErrDecode) {
			t.Fatalf("DecodeRoutes(%s): error %q does not wrap ErrDecode", in, err)
		}
		if !strings.Contains(err.Error(), wantInMsg) {
			t.Fatalf("DecodeRoutes(%s): error %q does not contain %q", in, err, wantInMsg)
		}
	}
	f(`"x"`, "want a JSON array")
	f(``, "want a JSON array")
	f(`[{"id":"r1","frontend":{"strip_path":"yes"}}]`, `routes[0] (id "r1"): frontend: strip_path: want bool, got a JSON string`)
	f(`[{"id":"ok"},{"id":"r2","backend":{"targets":[{"port":"80"}]}}]`, `routes[1] (id "r2"): backend: target:`)
	f(`[{"id":"r3","backend":{"client":{"retries":"x"}}}]`, "client:")
	f(`[1]`, "routes[0]")
	f(`{"id":"a-single-route"}`, `no "routes" member`)
	f(`{"routes":{}}`, "routes:")
}

func TestCloneIsDeep(t *testing.T) {
	data, err := os.ReadFile("testdata/otoroshi-export-tunnel-demo.json")
	if err != nil {
		t.Fatalf("cannot read the Otoroshi export: %s", err)
	}
	routes, err := DecodeRoutes(data)
	if err != nil {
		t.Fatal(err)
	}
	r := routes[0]
	r.Frontend.Headers = map[string]string{"a": "b"}
	r.Backend.HealthCheck = &HealthCheck{URL: "/h", HealthyStatuses: []int{200}}
	before, _ := json.Marshal(r)
	c := r.Clone()
	// Scribble over every shared-able part of the clone: the original must not change.
	c.Tags = append(c.Tags[:0], "x")
	c.Groups[0] = "other"
	c.Frontend.Domains[0] = "changed.example"
	c.Frontend.Headers["a"] = "z"
	c.Backend.Targets[0].Hostname = "changed"
	c.Backend.Targets[0].Extra["ip_address"][0] = ' '
	c.Backend.HealthCheck.HealthyStatuses[0] = 500
	c.Plugins[1].Config[0] = ' '
	c.Extra["_loc"][0] = ' '
	after, _ := json.Marshal(r)
	if string(before) != string(after) {
		t.Fatalf("mutating the clone changed the original:\n%s\n%s", before, after)
	}
}
