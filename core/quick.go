package core

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/torii-gateway/torii/core/route"
)

// QuickRoute returns the single catch-all route of quick mode ("torii proxy
// --to ..."): every host and path goes to targets, round-robin. Each target is
// an http:// URL with a host and a port (80 when absent), or h2c:// for a
// target spoken to in HTTP/2 with prior knowledge (protocol HTTP/2.0); its path
// is the route's root.
func QuickRoute(targets []string) (route.Route, error) {
	r := route.Route{
		ID:      "route_quick",
		Name:    "quick",
		Enabled: true,
		Groups:  []string{"default"},
		Frontend: route.Frontend{
			Domains: []string{"*"},
		},
		Backend: route.Backend{
			Root:          "/",
			LoadBalancing: route.LoadBalancing{Type: "RoundRobin"},
			Client:        route.DefaultClientConfig(),
		},
	}
	if len(targets) == 0 {
		return r, fmt.Errorf("cannot build quick route: %w: no --to target", ErrNoTarget)
	}
	for i, t := range targets {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "h2c") || u.Hostname() == "" {
			return r, fmt.Errorf("cannot build quick route: %w: %q is not an http://host:port (or h2c://host:port) URL", ErrNoTarget, t)
		}
		proto := "HTTP/1.1"
		if u.Scheme == "h2c" {
			proto = "HTTP/2.0" // HTTP/2 with prior knowledge (gRPC backends)
		}
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = "80"
		}
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return r, fmt.Errorf("cannot build quick route: %w: bad port in %q", ErrNoTarget, t)
		}
		if i == 0 && u.Path != "" && u.Path != "/" {
			r.Backend.Root = u.Path
		}
		r.Backend.Targets = append(r.Backend.Targets, route.Target{
			ID:       "target_" + strconv.Itoa(i+1),
			Hostname: host,
			Port:     p,
			Weight:   1,
			Protocol: proto,
		})
	}
	return r, nil
}
