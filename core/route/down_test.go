package route

import (
	"net/netip"
	"strings"
	"testing"
)

// nameMap is a Names cache from a fixed table.
type nameMap map[string]netip.Addr

func (m nameMap) Lookup(host string) (netip.Addr, bool) { a, ok := m[host]; return a, ok }

// TestDownTargets: with a Names cache, an unresolved hostname compiles (with a warning) into a
// target that Pick never returns; the others, a TLS target included (with its TLS profile), still
// serve, and the names asked are listed for the resolver.
func TestDownTargets(t *testing.T) {
	tab := mustCompile(t, `[{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[
		{"id":"dns","hostname":"Svc.Internal.","port":80},
		{"id":"tls","hostname":"known.internal","port":443,"tls":true},
		{"id":"ok","hostname":"known.internal","port":80},
		{"id":"pinned","hostname":"nowhere.internal","port":81,"ip_address":"127.0.0.2"}]}}]`,
		CompileOptions{Names: nameMap{"known.internal": netip.MustParseAddr("127.0.0.1")}})
	r := tab.Route("r")
	ups := r.Upstreams()
	if ups[0].Down != DownUnresolved || ups[1].Down != "" || ups[1].TLS == nil || ups[1].TLS.ServerName != "known.internal" || ups[2].Down != "" || ups[3].Down != "" {
		t.Fatalf("down: %q %q %q %q", ups[0].Down, ups[1].Down, ups[2].Down, ups[3].Down)
	}
	if ups[3].Addr.String() != "127.0.0.2:81" {
		t.Errorf("ip_address not used: %v", ups[3].Addr)
	}
	var warned []string
	for _, w := range tab.Warnings() {
		warned = append(warned, w.Field)
	}
	if got := strings.Join(warned, " "); !strings.Contains(got, "backend.targets[0].hostname") || strings.Contains(got, "backend.targets[1]") {
		t.Errorf("warnings %v", warned)
	}
	if got := strings.Join(tab.Hostnames(), " "); got != "known.internal svc.internal" {
		t.Errorf("hostnames %q", got)
	}
	for range 20 {
		u, _ := r.Pick(nil)
		if u == nil || u.Down != "" {
			t.Fatalf("picked %+v", u)
		}
	}
	// Only down targets: nothing to pick, the engine answers 503.
	tab = mustCompile(t, `[{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[
		{"id":"dns","hostname":"svc.internal","port":80},{"id":"tls","hostname":"tls.internal","port":443,"tls":true}]}}]`,
		CompileOptions{Names: nameMap{}})
	if u, _ := tab.Route("r").Pick(nil); u != nil {
		t.Fatalf("picked a down target %+v", u)
	}
}
