package route

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Compile validates routes and builds an immutable Table. Every invalid field and every
// conflict is reported (joined into one error naming route ids and fields); nothing is
// left to be found out at request time. Target hostnames are resolved here, never on the
// hot path, so Compile may block for up to ResolveTimeout per hostname: call it off the
// event loops. Disabled routes are validated but neither resolved nor matched. The
// enabled routes are numbered (Compiled.Index) from 0 in input order.
func Compile(routes []Route, opts CompileOptions) (*Table, error) {
	b := newBuilder(nil, opts, len(routes))
	seen := make(map[string]int, len(routes))
	for i := range routes {
		r := routes[i].Clone()
		if r.ID == "" {
			b.c.fail(fmt.Sprintf("#%d", i), "id", "must not be empty")
			continue
		}
		if j, dup := seen[r.ID]; dup {
			b.c.fail(r.ID, "id", "duplicate of routes[%d]", j)
			continue
		}
		seen[r.ID] = i
		b.add(&r, i)
	}
	return b.done()
}

// With returns the table of t's routes with the routes of put added or, when t has a route
// with their id, replaced (the last of a repeated id wins), and the routes with an id in
// del removed: a table that matches as Compile would for that set of routes. Only the
// routes of put are compiled, and only the hosts their old and new domains name are
// rebuilt (conflicts are checked there); everything else is shared with t, so a change
// costs O(changed · log n), not a pass over the routes. A replaced route keeps its Index;
// a new one takes the slot of a route an earlier With removed, or a new slot. A route
// whose target did not resolve is compiled again, in case it resolves now. t is unchanged;
// Delta on the result says what changed.
func (t *Table) With(put []Route, del []string, opts CompileOptions) (*Table, error) {
	if t == nil {
		t = &Table{} // no routes: a nil table matches nothing
	}
	b := newBuilder(t, opts, len(put))
	fresh := make(map[string]*Route, len(put))
	for i := range put {
		r := put[i].Clone()
		if r.ID == "" {
			b.c.fail(fmt.Sprintf("#%d", i), "id", "must not be empty")
			continue
		}
		fresh[r.ID] = &r
	}
	changed := make(map[string]bool, len(del)+len(put))
	for _, id := range del {
		changed[id] = true
	}
	for id := range fresh {
		changed[id] = true
	}
	for id := range t.down.All() {
		if !changed[id] {
			if rec, ok := t.recs.Get(id); ok {
				changed[id] = true
				fresh[id] = rec.src // the same entity, compiled again
			}
		}
	}
	ids := make([]string, 0, len(changed))
	for id := range changed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		b.remove(id)
	}
	for _, id := range ids {
		if r := fresh[id]; r != nil {
			b.add(r, -1)
		}
	}
	return b.done()
}

// builder makes a Table from an optional previous one (With) or from nothing (Compile).
type builder struct {
	prev      *Table // nil for Compile
	c         *compiler
	recs      *overlay[*routeRec]
	upstreams *overlay[*Upstream]
	addrs     *overlay[int32]
	hostRefs  *overlay[int32]
	down      *overlay[bool]
	slots     *slotWriter
	nslots    int
	free      *freeSlot
	nroutes   int
	nentries  int
	// kept holds the slots of the enabled routes removed by this With: the same id put
	// again takes its slot back, the others are freed for later tables.
	kept    map[string]int
	touched map[string]*touchedHost // by kind + host name
	names   map[string]bool         // hostnames whose count changed
	// addrsChanged holds the addresses (addrKeys) that appeared (true) or went (false).
	addrsChanged map[string]bool
	wildCount    *[256]int32
	wildOwned    bool
	delta        *Delta
}

// touchedHost is a host whose node must be rebuilt: the routes whose old entries leave it
// and the new entries it gets.
type touchedHost struct {
	kind  byte
	name  string
	gone  map[string]bool
	added []*Compiled
}

func newBuilder(prev *Table, opts CompileOptions, hint int) *builder {
	c := &compiler{opts: opts, reg: opts.Registry, resolved: make(map[string]resolution), seed: opts.Seed}
	if c.reg == nil {
		c.reg = NewRegistry()
	}
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	base := prev
	if base == nil {
		base = &Table{}
	}
	b := &builder{
		prev: prev, c: c,
		recs:         newOverlay(base.recs, hint),
		upstreams:    newOverlay(base.upstreams, hint),
		addrs:        newOverlay(base.addrs, hint),
		hostRefs:     newOverlay(base.hostRefs, 0),
		down:         newOverlay(base.down, 0),
		slots:        newSlotWriter(base.slots),
		nslots:       base.nslots,
		free:         base.free,
		nroutes:      base.nroutes,
		nentries:     base.nentries,
		kept:         map[string]int{},
		touched:      make(map[string]*touchedHost, hint),
		names:        map[string]bool{},
		addrsChanged: map[string]bool{},
		wildCount:    base.wildCount,
	}
	if b.wildCount == nil {
		b.wildCount = &[256]int32{}
		b.wildOwned = true
	}
	if prev != nil {
		b.delta = &Delta{}
	}
	return b
}

func (b *builder) touch(e *Compiled) *touchedHost {
	kind, name := hostKey(e)
	key := string(kind) + name
	th := b.touched[key]
	if th == nil {
		th = &touchedHost{kind: kind, name: name}
		b.touched[key] = th
	}
	return th
}

// remove takes the route id out (when the table has it).
func (b *builder) remove(id string) {
	rec, ok := b.recs.get(id)
	if !ok {
		return
	}
	b.recs.remove(id)
	b.down.remove(id)
	for _, h := range rec.hosts() {
		count(b.hostRefs, h, -1)
		b.names[h] = true
	}
	if len(rec.entries) == 0 {
		return
	}
	old := rec.entries[0]
	if b.delta != nil {
		b.delta.Removed = append(b.delta.Removed, old)
	}
	b.nroutes--
	b.nentries -= len(rec.entries)
	b.kept[id] = old.Index
	b.slots.set(old.Index, nil)
	for _, e := range rec.entries {
		th := b.touch(e)
		if th.gone == nil {
			th.gone = map[string]bool{}
		}
		th.gone[id] = true
	}
	var key [addrKeyLen]byte
	for _, p := range old.pools() {
		for i := range p.ups {
			u := &p.ups[i]
			b.upstreams.remove(u.Key)
			if u.Down == "" {
				b.countAddr(addrKey(&key, u.Addr), -1)
			}
		}
	}
}

// add compiles r and adds it; pos is its position in Compile's input, -1 for With.
func (b *builder) add(r *Route, pos int) {
	idx := -1
	if r.Enabled {
		idx = b.slotFor(r.ID, pos)
	}
	seed := pos
	if pos < 0 {
		seed = idx
	}
	nw := len(b.c.warnings)
	entries := b.c.compileRoute(r, seed)
	rec := &routeRec{src: r}
	hs := b.c.routeHosts[r.ID]
	if len(b.c.warnings) > nw || len(hs) > 0 {
		rec.more = &recMore{warnings: slices.Clip(b.c.warnings[nw:])}
		if len(hs) > 0 {
			slices.Sort(hs)
			rec.more.hosts = slices.Compact(hs)
			delete(b.c.routeHosts, r.ID)
		}
	}
	b.recs.put(r.ID, rec)
	for _, h := range rec.hosts() {
		count(b.hostRefs, h, 1)
		b.names[h] = true
	}
	if entries == nil || !r.Enabled {
		return
	}
	rec.entries = entries
	for _, e := range entries {
		e.Index = idx
		th := b.touch(e)
		th.added = append(th.added, e)
	}
	b.slots.set(idx, entries[0])
	b.nroutes++
	b.nentries += len(entries)
	if b.delta != nil {
		b.delta.Added = append(b.delta.Added, entries[0])
	}
	var key [addrKeyLen]byte
	for _, p := range entries[0].pools() {
		for i := range p.ups {
			u := &p.ups[i]
			b.upstreams.put(u.Key, u)
			if u.Down == "" {
				b.countAddr(addrKey(&key, u.Addr), 1)
			} else {
				rec.down = true
			}
		}
	}
	if rec.down {
		b.down.put(r.ID, true)
	}
}

// countAddr counts one upstream more (d=1) or less (d=-1) at the address of key (an
// addrKey, copied when kept).
func (b *builder) countAddr(key string, d int32) {
	before, after := count(b.addrs, strings.Clone(key), d)
	if (before == 0) != (after == 0) {
		b.addrsChanged[strings.Clone(key)] = after > 0
	}
}

// slotFor returns the Index of an enabled route: its old one when this With removed it,
// else a freed slot, else a new one (always a new one for Compile).
func (b *builder) slotFor(id string, pos int) int {
	if pos < 0 {
		if idx, ok := b.kept[id]; ok {
			delete(b.kept, id)
			return idx
		}
		if b.free != nil {
			idx := b.free.index
			b.free = b.free.next
			return idx
		}
	}
	b.nslots++
	return b.nslots - 1
}

// pools returns the route's pool and its canary's, if any.
func (c *Compiled) pools() []*pool {
	if c.canary != nil {
		return []*pool{c.pool, c.canary.pool}
	}
	return []*pool{c.pool}
}

// oldEntries returns the entries of the host of th in the previous table.
func (b *builder) oldEntries(th *touchedHost) []*Compiled {
	if b.prev == nil {
		return nil
	}
	var n *hostNode
	switch th.kind {
	case kindExact:
		n = b.prev.exact.get([]byte(th.name))
	case kindWild:
		n = b.prev.wild.get([]byte(th.name))
	case kindGlob:
		for i := range b.prev.globs {
			if b.prev.globs[i].pattern == th.name {
				n = b.prev.globs[i].node
			}
		}
	case kindAny:
		n = b.prev.any
	}
	if n == nil {
		return nil
	}
	return n.entries(nil)
}

// done rebuilds the touched hosts and returns the table.
func (b *builder) done() (*Table, error) {
	if len(b.c.errs) != 0 {
		return nil, fmt.Errorf("cannot compile routes: %w", errors.Join(b.c.errs...))
	}
	prev := b.prev
	if prev == nil {
		prev = &Table{}
	}
	t := &Table{
		globs: prev.globs, any: prev.any, serial: tableSerial.Add(1),
		nroutes: b.nroutes, nentries: b.nentries, nslots: b.nslots, delta: b.delta,
	}
	if b.delta != nil {
		b.delta.from = b.prev.serial
	}
	// Slots of removed routes that did not come back, last freed on top.
	freed := make([]int, 0, len(b.kept))
	for _, idx := range b.kept {
		freed = append(freed, idx)
	}
	slices.Sort(freed)
	for _, idx := range freed {
		b.free = &freeSlot{index: idx, next: b.free}
	}
	t.free = b.free

	keys := make([]string, 0, len(b.touched))
	for k := range b.touched {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	var exactPut, wildPut []*hostNode
	var exactDel, wildDel []string
	globsChanged := false
	var globPut []globHost
	globDel := map[string]bool{}
	for _, k := range keys {
		th := b.touched[k]
		old := b.oldEntries(th)
		entries := make([]*Compiled, 0, len(old)+len(th.added))
		for _, e := range old {
			if !th.gone[e.ID] {
				entries = append(entries, e)
			}
		}
		entries = append(entries, th.added...)
		slices.SortStableFunc(entries, entryOrder)
		var n *hostNode
		if len(entries) > 0 {
			var err error
			if n, err = buildNode(th.name, entries); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		switch th.kind {
		case kindExact:
			if n != nil {
				exactPut = append(exactPut, n)
			} else if len(old) > 0 {
				exactDel = append(exactDel, th.name)
			}
		case kindWild:
			if n != nil {
				wildPut = append(wildPut, n)
			} else if len(old) > 0 {
				wildDel = append(wildDel, th.name)
			}
			if (n != nil) != (len(old) > 0) {
				if !b.wildOwned {
					cp := *b.wildCount
					b.wildCount, b.wildOwned = &cp, true
				}
				if l := len(th.name); l < 256 {
					if n != nil {
						b.wildCount[l]++
					} else {
						b.wildCount[l]--
					}
				}
			}
		case kindGlob:
			globsChanged = true
			globDel[th.name] = true
			if n != nil {
				globPut = append(globPut, newGlobHost(th.name, n))
			}
		case kindAny:
			t.any = n
		}
	}
	if len(errs) != 0 {
		return nil, fmt.Errorf("cannot compile routes: %w", errors.Join(errs...))
	}
	t.exact = prev.exact.with(exactPut, exactDel)
	t.wild = prev.wild.with(wildPut, wildDel)
	t.wildCount = b.wildCount
	for l, n := range b.wildCount {
		if n > 0 {
			t.wildLens[l>>6] |= 1 << (l & 63)
		}
	}
	if globsChanged {
		globs := make([]globHost, 0, len(prev.globs)+len(globPut))
		for _, g := range prev.globs {
			if !globDel[g.pattern] {
				globs = append(globs, g)
			}
		}
		globs = append(globs, globPut...)
		sortGlobs(globs)
		t.globs = slices.Clip(globs)
	}
	t.recs = b.recs.commit()
	t.upstreams = b.upstreams.commit()
	t.addrs = b.addrs.commit()
	var addrPut []*hostNode
	var addrDel []string
	for k, in := range b.addrsChanged {
		if !in {
			if prev.addrs.Has(k) {
				addrDel = append(addrDel, k)
			}
		} else if !prev.addrs.Has(k) {
			addrPut = append(addrPut, newHostNode(k))
		}
	}
	t.addrIdx = prev.addrIdx.with(addrPut, addrDel)
	t.hostRefs = b.hostRefs.commit()
	t.down = b.down.commit()
	t.slots = b.slots.v
	if b.delta != nil {
		for h := range b.names {
			was, is := b.prev.hostRefs.Has(h), t.hostRefs.Has(h)
			if is && !was {
				b.delta.HostsAdded = append(b.delta.HostsAdded, h)
			} else if was && !is {
				b.delta.HostsRemoved = append(b.delta.HostsRemoved, h)
			}
		}
		slices.Sort(b.delta.HostsAdded)
		slices.Sort(b.delta.HostsRemoved)
	}
	return t, nil
}

// conflictError reports two routes claiming the same domain, path kind and matchers.
func conflictError(prevID string, e *Compiled) error {
	return fmt.Errorf("%w: routes %q and %q both claim domain %q%s", ErrConflict, prevID, e.ID, e.Domain, e.match.describe())
}
