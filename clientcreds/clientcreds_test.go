package clientcreds

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core/route"
)

// TestRoutes: one added route per domain of the routes with the plugin (or
// its configured domain), none for the others, and a bad config names the
// route and the field.
func TestRoutes(t *testing.T) {
	pl := func(cfg string) []route.Plugin {
		return []route.Plugin{{Enabled: true, Plugin: "cp:otoroshi.next.plugins.NgClientCredentials", Config: json.RawMessage(cfg)}}
	}
	routes := []route.Route{
		{ID: "a", Frontend: route.Frontend{Domains: []string{"API.example.com/v1", "b.example.com"}}, Plugins: pl(`{"secure":false}`)},
		{ID: "b", Frontend: route.Frontend{Domains: []string{"c.example.com"}}, Plugins: pl(`{"domain":"auth.example.com","expiration":5000}`)},
		{ID: "c", Frontend: route.Frontend{Domains: []string{"d.example.com"}}},
	}
	addr := netip.MustParseAddrPort("127.0.0.1:4444")
	out, confs, err := Routes(routes, addr)
	if err != nil {
		t.Fatal(err)
	}
	var domains []string
	for _, r := range out[3:] {
		domains = append(domains, r.Frontend.Domains[0])
		if r.Backend.Targets[0].Port != 4444 || r.Backend.Targets[0].Hostname != "127.0.0.1" {
			t.Errorf("target %+v", r.Backend.Targets[0])
		}
	}
	if strings.Join(domains, " ") != "api.example.com/.well-known/otoroshi/oauth auth.example.com/.well-known/otoroshi/oauth b.example.com/.well-known/otoroshi/oauth" {
		t.Errorf("added domains %v", domains)
	}
	if confs["api.example.com"].Secure || !confs["auth.example.com"].Secure || confs["auth.example.com"].Expiration != 5000 {
		t.Errorf("configs %+v", confs)
	}
	if len(routes) != 3 {
		t.Error("Routes changed its argument")
	}
	_, _, err = Routes([]route.Route{{ID: "x", Plugins: pl(`{"expiration":0}`)}}, addr)
	if err == nil || !strings.Contains(err.Error(), `route "x": plugins[0].config.expiration`) {
		t.Errorf("bad config error %v", err)
	}
}

func TestHasScopes(t *testing.T) {
	f := func(granted, want string, ok bool) {
		t.Helper()
		if hasScopes(granted, want) != ok {
			t.Errorf("hasScopes(%q, %q) = %v", granted, want, !ok)
		}
	}
	f("read write", "read", true)
	f("read write", "write read", true)
	f("read", "read admin", false)
	f("", "read", false)
}
