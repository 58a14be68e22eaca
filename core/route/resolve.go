package route

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// resolve returns the address of a target: its `ip_address` member when set (as Otoroshi
// does), the literal when the hostname is an IP, 127.0.0.1 for localhost, otherwise a DNS
// lookup bounded by ResolveTimeout (IPv4 preferred).
func (c *compiler) resolve(tg *Target) (netip.Addr, error) {
	if raw, ok := tg.Extra["ip_address"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil && s != "" {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return netip.Addr{}, fmt.Errorf("%w: invalid ip_address %q", ErrUnresolvable, s)
			}
			return a.Unmap(), nil
		}
	}
	host := strings.TrimSuffix(strings.ToLower(tg.Hostname), ".")
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return a.Unmap(), nil
	}
	if host == "localhost" {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	if c.opts.Names != nil {
		if c.routeHosts == nil {
			c.routeHosts = make(map[string][]string)
		}
		c.routeHosts[c.routeID] = append(c.routeHosts[c.routeID], host)
		if a, ok := c.opts.Names.Lookup(host); ok {
			return a.Unmap(), nil
		}
		return netip.Addr{}, fmt.Errorf("%w: %q", ErrUnresolvable, host)
	}
	if res, ok := c.resolved[host]; ok {
		return res.addr, res.err
	}
	timeout := c.opts.ResolveTimeout
	if timeout <= 0 {
		timeout = defaultResolveTimeout
	}
	resolver := c.opts.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	var res resolution
	switch {
	case err != nil:
		res.err = fmt.Errorf("%w: %q: %w", ErrUnresolvable, host, err)
	case len(addrs) == 0:
		res.err = fmt.Errorf("%w: %q has no address", ErrUnresolvable, host)
	default:
		res.addr = addrs[0].Unmap()
		for _, a := range addrs {
			if a.Unmap().Is4() {
				res.addr = a.Unmap()
				break
			}
		}
	}
	c.resolved[host] = res
	return res.addr, res.err
}
