package auth

import (
	"encoding/json"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/torii-gateway/torii/core/route"
)

// Prefix is the path prefix of the login server on every private app's
// domain.
const Prefix = "/.well-known/otoroshi/privateapps/"

// loginRouteID is the id of the route that takes Prefix on host.
func loginRouteID(host string) string { return "torii-privateapps-" + host }

// privateRoute is what the login server knows of a route behind AuthModule.
type privateRoute struct {
	id      string
	name    string
	modules []string
	hosts   []string // host patterns of the route's domains ("*.x.com" allowed)
}

// privateRoutes lists the enabled routes with an enabled AuthModule or
// MultiAuthModule plugin, with their modules.
func privateRoutes(routes []route.Route) map[string]*privateRoute {
	out := map[string]*privateRoute{}
	for i := range routes {
		r := &routes[i]
		if !r.Enabled {
			continue
		}
		for _, p := range r.Plugins {
			name := p.Plugin[strings.LastIndexByte(p.Plugin, '.')+1:]
			if !p.Enabled || (name != "AuthModule" && name != "MultiAuthModule") {
				continue
			}
			var c struct {
				AuthModule  string   `json:"auth_module"`
				Module      string   `json:"module"`
				AuthModules []string `json:"auth_modules"`
				Modules     []string `json:"modules"`
			}
			_ = json.Unmarshal(p.Config, &c)
			pr := &privateRoute{id: r.ID, name: r.Name}
			for _, m := range append([]string{c.AuthModule, c.Module}, append(c.AuthModules, c.Modules...)...) {
				if m != "" {
					pr.modules = append(pr.modules, m)
				}
			}
			if name == "AuthModule" && len(pr.modules) > 1 {
				pr.modules = pr.modules[:1]
			}
			for _, d := range r.Frontend.Domains {
				host, _, _ := strings.Cut(d, "/")
				pr.hosts = append(pr.hosts, strings.ToLower(host))
			}
			out[r.ID] = pr
			break // the first instance decides, as in the engine
		}
	}
	return out
}

// LoginRelevant reports whether LoginRoutes depends on r: r is enabled with
// an enabled AuthModule or MultiAuthModule plugin, or one of its domains
// takes the login prefix. LoginRoutes over the relevant routes of a list adds
// the same routes as over the whole list, so a caller that keeps the
// relevant ones need not go over every route again after a change.
func LoginRelevant(r *route.Route) bool {
	for _, d := range r.Frontend.Domains {
		if strings.HasSuffix(strings.ToLower(strings.TrimSuffix(d, "/")), strings.TrimSuffix(Prefix, "/")) {
			return true
		}
	}
	return len(privateRoutes([]route.Route{*r})) > 0
}

// IsLoginRouteID reports whether id is the id LoginRoutes gives its routes.
func IsLoginRouteID(id string) bool { return strings.HasPrefix(id, loginRouteID("")) }

// LoginRoutes returns routes with, for each host of a route behind
// AuthModule, one route more that sends host+Prefix to the login server at
// addr (Host kept, path kept). Call it on the admin's routes before
// route.Compile. Routes of the user that already take that exact prefix
// win: none is added for them.
func LoginRoutes(routes []route.Route, addr netip.AddrPort) []route.Route {
	if !addr.IsValid() {
		return routes
	}
	taken := map[string]bool{}
	for i := range routes {
		for _, d := range routes[i].Frontend.Domains {
			taken[strings.ToLower(strings.TrimSuffix(d, "/"))] = true
		}
	}
	var hosts []string
	seen := map[string]bool{}
	for _, pr := range privateRoutes(routes) {
		for _, h := range pr.hosts {
			if !seen[h] && !taken[h+strings.TrimSuffix(Prefix, "/")] {
				seen[h] = true
				hosts = append(hosts, h)
			}
		}
	}
	if len(hosts) == 0 {
		return routes
	}
	out := make([]route.Route, len(routes), len(routes)+len(hosts))
	copy(out, routes)
	slices.Sort(hosts)
	for _, h := range hosts {
		out = append(out, route.Route{
			ID: loginRouteID(h), Name: "Private apps login (" + h + ")",
			Description: "added by Torii: the login pages of the routes behind AuthModule on " + h,
			Enabled:     true, Groups: []string{"default"},
			Frontend: route.Frontend{Domains: []string{h + Prefix}},
			Backend: route.Backend{
				Root:          "/",
				LoadBalancing: route.LoadBalancing{Type: "RoundRobin"},
				Client:        route.DefaultClientConfig(),
				Targets: []route.Target{{ID: "login", Hostname: addr.Addr().String(), Port: int(addr.Port()),
					Weight: 1, Protocol: "HTTP/1.1"}},
			},
		})
	}
	return out
}

// hostMatches reports whether the request host (port dropped, lower case)
// is one of the patterns ('*' any run, as the route table's globs).
func hostMatches(patterns []string, host string) bool {
	for _, p := range patterns {
		if p == "*" || p == host {
			return true
		}
		if ok, _ := path.Match(p, host); ok && strings.Contains(p, "*") {
			return true
		}
	}
	return false
}
