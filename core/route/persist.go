package route

import (
	"net/netip"
	"slices"
	"unsafe"

	"github.com/torii-gateway/torii/internal/pmap"
)

// The persistent parts of a Table (issue 15): a Table made by With shares all but
// O(changed) of its structure with the table it came from, so that a route write at 100k
// routes costs microseconds to milliseconds instead of a rebuild.

// routeRec is what a Table keeps of one route, enabled or not, by id.
type routeRec struct {
	src     *Route      // the table's private copy
	entries []*Compiled // one per domain; nil for a disabled route
	more    *recMore    // nil for most routes
	// down is set when some target did not resolve: With compiles the route again, in
	// case it resolves now.
	down bool
}

// recMore is what few routes have.
type recMore struct {
	hosts    []string // hostnames the route asked of CompileOptions.Names
	warnings []Warning
}

func (r *routeRec) hosts() []string {
	if r.more == nil {
		return nil
	}
	return r.more.hosts
}

func (r *routeRec) warnings() []Warning {
	if r.more == nil {
		return nil
	}
	return r.more.warnings
}

// overlay is a batch of changes to a pmap.Map: reads see the changes, commit applies them
// to a new Map (the base is unchanged). A commit on an empty base builds the map in one
// pass (pmap.Build), so Compile of n routes costs O(n log n), not n persistent inserts.
type overlay[V any] struct {
	base pmap.Map[V]
	set  map[string]V
	del  map[string]bool
}

func newOverlay[V any](base pmap.Map[V], hint int) *overlay[V] {
	return &overlay[V]{base: base, set: make(map[string]V, hint), del: make(map[string]bool)}
}

func (o *overlay[V]) get(k string) (V, bool) {
	if v, ok := o.set[k]; ok {
		return v, true
	}
	if o.del[k] {
		var zero V
		return zero, false
	}
	return o.base.Get(k)
}

func (o *overlay[V]) put(k string, v V) {
	o.set[k] = v
	delete(o.del, k)
}

func (o *overlay[V]) remove(k string) {
	delete(o.set, k)
	if o.base.Has(k) {
		o.del[k] = true
	}
}

// count adds d to the count of k (a reference count kept in a map of ints) and returns
// the count before and after; a count that reaches 0 is removed.
func count(o *overlay[int32], k string, d int32) (before, after int32) {
	before, _ = o.get(k)
	after = before + d
	if after <= 0 {
		o.remove(k)
	} else {
		o.put(k, after)
	}
	return before, after
}

func (o *overlay[V]) commit() pmap.Map[V] {
	m := o.base
	if m.Len() == 0 && len(o.set) > 16 {
		keys := make([]string, 0, len(o.set))
		for k := range o.set {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		vals := make([]V, len(keys))
		for i, k := range keys {
			vals[i] = o.set[k]
		}
		return pmap.Build(keys, vals)
	}
	for k := range o.del {
		m = m.Delete(k)
	}
	for k, v := range o.set {
		m = m.Set(k, v)
	}
	return m
}

// addrKeyLen is the length of an addrKey: the 16 bytes of the address (IPv4 mapped), the
// port and whether the address is IPv4. Zones are not part of it.
const addrKeyLen = 19

// addrKey writes the key of a into b and returns it as a string that aliases b: it must
// not outlive b. 0 allocs.
func addrKey(b *[addrKeyLen]byte, a netip.AddrPort) string {
	ip := a.Addr().As16()
	copy(b[:16], ip[:])
	b[16], b[17] = byte(a.Port()>>8), byte(a.Port())
	b[18] = 0
	if a.Addr().Is4() {
		b[18] = 1
	}
	return unsafe.String(&b[0], addrKeyLen)
}

// slotBits sets the size of the chunks of a slotVec: 256 routes.
const slotBits = 8

// slotVec is a persistent vector of routes by Index: a directory of fixed-size chunks, so
// that setting a slot copies the directory and one chunk and shares the rest.
type slotVec struct {
	dir [][]*Compiled
}

func (v *slotVec) at(i int) *Compiled {
	c := i >> slotBits
	if i < 0 || c >= len(v.dir) {
		return nil
	}
	return v.dir[c][i&(1<<slotBits-1)]
}

// slotWriter changes a slotVec without writing the chunks it shares with its base.
type slotWriter struct {
	v     slotVec
	owned map[int]bool // chunks copied (or made) by this writer
}

func newSlotWriter(base slotVec) *slotWriter {
	return &slotWriter{v: slotVec{dir: slices.Clone(base.dir)}, owned: map[int]bool{}}
}

func (w *slotWriter) set(i int, c *Compiled) {
	ci := i >> slotBits
	for len(w.v.dir) <= ci {
		w.v.dir = append(w.v.dir, make([]*Compiled, 1<<slotBits))
		w.owned[len(w.v.dir)-1] = true
	}
	if !w.owned[ci] {
		w.v.dir[ci] = slices.Clone(w.v.dir[ci])
		w.owned[ci] = true
	}
	w.v.dir[ci][i&(1<<slotBits-1)] = c
}

// freeSlot is a persistent stack of the slots of removed routes.
type freeSlot struct {
	index int
	next  *freeSlot
}
