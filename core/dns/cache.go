package dns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Defaults of Options.
const (
	DefaultMinTTL  = 5 * time.Second
	DefaultMaxTTL  = 5 * time.Minute
	DefaultTimeout = 2 * time.Second
	// parallel bounds the names resolved at once, so that a dead server costs Timeout per
	// round, not Timeout per name.
	parallel = 8
)

// Options configures a Cache. The zero value reads /etc/resolv.conf and /etc/hosts.
type Options struct {
	// Servers are "ip:port" nameservers; empty means those of ResolvConf.
	Servers []string
	// Search and NDots override ResolvConf's search list and ndots when Servers is set.
	Search []string
	NDots  int
	// ResolvConf is the resolv.conf to read ("" = /etc/resolv.conf); HostsFile the hosts file
	// ("" = /etc/hosts, "-" = none).
	ResolvConf, HostsFile string
	// MinTTL and MaxTTL clamp the TTL of every answer (the floor is also how soon a name that did
	// not resolve is tried again); Timeout bounds one question to one server.
	MinTTL, MaxTTL, Timeout time.Duration
	// OnChange is called on the resolver goroutine after a round in which some name got, changed
	// or lost its address.
	OnChange func()
	// OnLookup, when set, is called on the resolver goroutine after each name was asked, with
	// whether it got an address (for counters).
	OnLookup func(ok bool)
	Log      *slog.Logger
}

// Status is what the Cache knows of one name.
type Status struct {
	Addr     netip.Addr // invalid when unresolved
	Err      string     // why the last attempt failed ("" after a success)
	Resolved time.Time  // last successful answer
	Next     time.Time  // next attempt
	Tried    bool       // at least one attempt finished
}

// Stats counts the resolver's work since New.
type Stats struct {
	Lookups, Failures   uint64 // names asked, and those that got no address
	Watched, Unresolved int    // names watched now, and those without an address
}

type entry struct {
	Status
}

// Cache holds the watched names and their addresses. Create it with New and run Run on its own
// goroutine.
type Cache struct {
	opts   Options
	search []string
	ndots  int
	hosts  string

	mu      sync.Mutex
	names   map[string]*entry
	stats   Stats
	tried   *sync.Cond // broadcast after each round
	wake    chan struct{}
	servers []string
}

// New makes a Cache; nothing is resolved until Run runs.
func New(opts Options) *Cache {
	if opts.MinTTL <= 0 {
		opts.MinTTL = DefaultMinTTL
	}
	if opts.MaxTTL < opts.MinTTL {
		opts.MaxTTL = max(DefaultMaxTTL, opts.MinTTL)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{opts: opts, names: map[string]*entry{}, wake: make(chan struct{}, 1),
		servers: opts.Servers, search: opts.Search, ndots: opts.NDots, hosts: opts.HostsFile}
	if len(opts.Servers) == 0 {
		path := opts.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		rc := readResolvConf(path)
		c.servers, c.search, c.ndots = rc.servers, rc.search, rc.ndots
	}
	if c.hosts == "" {
		c.hosts = "/etc/hosts"
	}
	c.tried = sync.NewCond(&c.mu)
	return c
}

// normalize is the form names are kept in: lower case, without the final dot.
func normalize(host string) string { return strings.TrimSuffix(strings.ToLower(host), ".") }

// Lookup returns the current address of host; ok=false when it is not resolved (yet). It never
// touches the network. (route.Names)
func (c *Cache) Lookup(host string) (netip.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.names[normalize(host)]
	if e == nil || !e.Addr.IsValid() {
		return netip.Addr{}, false
	}
	return e.Addr, true
}

// Watch sets the names to keep resolved: new ones are resolved at once (by Run), names no longer
// listed are forgotten.
func (c *Cache) Watch(hosts []string) {
	c.mu.Lock()
	keep := make(map[string]bool, len(hosts))
	added := false
	for _, h := range hosts {
		h = normalize(h)
		keep[h] = true
		if _, ok := c.names[h]; !ok {
			c.names[h] = &entry{}
			added = true
		}
	}
	for h := range c.names {
		if !keep[h] {
			delete(c.names, h)
		}
	}
	c.mu.Unlock()
	if added {
		c.kick()
	}
}

// WatchDiff changes the names to keep resolved by a difference: add are watched (new ones are
// resolved at once), remove forgotten. After Watch(a), WatchDiff(add, remove) is Watch(b) where
// b is a with add and without remove; it costs O(len(add)+len(remove)).
func (c *Cache) WatchDiff(add, remove []string) {
	c.mu.Lock()
	added := false
	for _, h := range remove {
		delete(c.names, normalize(h))
	}
	for _, h := range add {
		h = normalize(h)
		if _, ok := c.names[h]; !ok {
			c.names[h] = &entry{}
			added = true
		}
	}
	c.mu.Unlock()
	if added {
		c.kick()
	}
}

func (c *Cache) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Wait blocks until every host of hosts that is watched has had one attempt, or ctx ends.
func (c *Cache) Wait(ctx context.Context, hosts []string) {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.tried.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for ctx.Err() == nil {
		pending := false
		for _, h := range hosts {
			if e := c.names[normalize(h)]; e != nil && !e.Tried {
				pending = true
			}
		}
		if !pending {
			return
		}
		c.tried.Wait()
	}
}

// Status returns what the Cache knows of host; ok=false when it is not watched.
func (c *Cache) Status(host string) (Status, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.names[normalize(host)]
	if e == nil {
		return Status{}, false
	}
	return e.Status, true
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Watched = len(c.names)
	for _, e := range c.names {
		if !e.Addr.IsValid() {
			st.Unresolved++
		}
	}
	return st
}

// Run resolves the watched names until ctx ends: each when its TTL (clamped) runs out, new ones
// at once. It is the Cache's only goroutine that uses the network.
func (c *Cache) Run(ctx context.Context) {
	next := time.Now()
	for {
		timer := time.NewTimer(max(time.Until(next), 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			c.mu.Lock()
			c.tried.Broadcast()
			c.mu.Unlock()
			return
		case <-timer.C:
		case <-c.wake:
			timer.Stop()
		}
		next = c.round(ctx)
	}
}

// round resolves every name that is due and returns when the next one will be.
func (c *Cache) round(ctx context.Context) time.Time {
	now := time.Now()
	c.mu.Lock()
	var due []string
	for h, e := range c.names {
		if !e.Tried || !e.Next.After(now) {
			due = append(due, h)
		}
	}
	c.mu.Unlock()
	slices.Sort(due)
	hosts := map[string][]netip.Addr(nil)
	if c.hosts != "-" && len(due) > 0 {
		hosts = readHosts(c.hosts)
	}
	type result struct {
		host string
		a    answer
		err  error
	}
	results := make([]result, len(due))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, h := range due {
		results[i].host = h
		if addrs, ok := hosts[h]; ok {
			results[i].a = answer{addrs: addrs, ttl: uint32(c.opts.MinTTL / time.Second)}
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i].a, results[i].err = c.resolve(ctx, h)
		}()
	}
	wg.Wait()

	changed := false
	c.mu.Lock()
	now = time.Now()
	for _, r := range results {
		e := c.names[r.host]
		if e == nil {
			continue // forgotten meanwhile
		}
		c.stats.Lookups++
		before := e.Addr
		wait := c.opts.MinTTL
		switch {
		case r.err == nil:
			e.Addr = pick(before, r.a.addrs)
			e.Err, e.Resolved = "", now
			wait = min(max(time.Duration(r.a.ttl)*time.Second, c.opts.MinTTL), c.opts.MaxTTL)
		case errors.Is(r.err, errNoName):
			c.stats.Failures++
			e.Addr, e.Err = netip.Addr{}, "no such name or no address"
		default:
			// The servers did not answer: keep the last good address (stale) and ask again
			// at the floor.
			c.stats.Failures++
			e.Err = r.err.Error()
		}
		e.Next = now.Add(wait)
		if c.opts.OnLookup != nil {
			c.opts.OnLookup(r.err == nil)
		}
		if e.Addr != before {
			changed = true
			c.opts.Log.Info("target name resolved", "name", r.host, "from", before, "to", e.Addr, "error", e.Err)
		}
	}
	c.mu.Unlock()
	// OnChange runs before the round counts as tried, so that Wait returns once the change
	// was acted upon (published).
	if changed && c.opts.OnChange != nil && ctx.Err() == nil {
		c.opts.OnChange()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range results {
		if e := c.names[r.host]; e != nil {
			e.Tried = true
		}
	}
	next := now.Add(c.opts.MaxTTL)
	for _, e := range c.names {
		if !e.Tried {
			next = now
		} else if e.Next.Before(next) {
			next = e.Next
		}
	}
	c.tried.Broadcast()
	return next
}

// pick chooses the address to use: IPv4 before IPv6; the current one while the answer still holds
// it, otherwise the smallest.
func pick(cur netip.Addr, addrs []netip.Addr) netip.Addr {
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	set := v4
	if len(set) == 0 {
		set = v6
	}
	if slices.Contains(set, cur) {
		return cur
	}
	return slices.MinFunc(set, func(a, b netip.Addr) int { return a.Compare(b) })
}

// resolve asks for host's addresses: each candidate name of the search list in turn, A then
// AAAA, each server in turn. With no server it asks net.DefaultResolver (TTL unknown: the floor).
func (c *Cache) resolve(ctx context.Context, host string) (answer, error) {
	if len(c.servers) == 0 {
		ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				return answer{}, errNoName
			}
			return answer{}, err
		}
		return answer{addrs: addrs, ttl: uint32(c.opts.MinTTL / time.Second)}, nil
	}
	var lastErr error = errNoName
	for _, name := range candidates(host, c.search, c.ndots) {
		for _, qt := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
			a, err := c.ask(ctx, name, qt)
			if err == nil {
				return a, nil
			}
			if !errors.Is(err, errNoName) {
				lastErr = err
			}
		}
	}
	return answer{}, lastErr
}

// ask puts one question to each server in turn until one answers (with an address or a
// definite "no such name").
func (c *Cache) ask(ctx context.Context, name string, qt dnsmessage.Type) (answer, error) {
	var err error
	for _, s := range c.servers {
		var a answer
		if a, err = exchange(ctx, s, name, qt, c.opts.Timeout); err == nil || errors.Is(err, errNoName) {
			return a, err
		}
	}
	return answer{}, err
}
