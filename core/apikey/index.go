package apikey

import (
	"hash/maphash"
	"math/bits"
	"unsafe"
)

// cacheLine is the unit of sharing between cores. Data every event loop
// reads on every request is kept on lines of its own: a line that also holds
// something one core writes (a loop's connection state, another object the
// allocator put next to ours) is pulled back and forth on each read by the
// other cores (false sharing). On two cores that doubled the cost of a key
// lookup, depending on where the runtime placed its map's table header.
const cacheLine = 64

// indexPad is the number of slots of padding on each side of a page's
// slots: at least a cache line.
const indexPad = (cacheLine + int(unsafe.Sizeof(slot{})) - 1) / int(unsafe.Sizeof(slot{}))

// pagePad is the number of page pointers of padding on each side of the
// page directory: a cache line.
const pagePad = cacheLine / int(unsafe.Sizeof((*page)(nil)))

// pageKeys is the number of keys a page holds on average when the directory
// is sized. A change copies the directory (8 bytes per page) and one page
// (about 2 × pageKeys × 24 bytes): at 1M keys, 32 KiB and 12 KiB.
const pageKeys = 256

// index maps client ids to keys. It is a persistent, paged open-addressing
// table: the low bits of the hash pick a page from the directory, the high
// bits the first slot to probe inside the page (linear probing, load at most
// 1/2). Neither the directory nor a page is written once published: a change
// copies the directory and the page it touches and shares every other page
// with the index it came from, so a write costs the same at any size while a
// lookup stays two dependent loads and a compare. The directory and each
// page's slots sit between cache lines of padding so that no object written
// by a core shares a line with them.
type index struct {
	pages []*page // length a power of two
	seed  maphash.Seed
	n     int // keys in all pages
}

// page is one open-addressing table of the index. slots has a power-of-two
// length at least twice n, so a probe always reaches an empty slot.
type page struct {
	slots []slot
	n     int
}

// slot is one entry of a page: the client id is kept beside the key so that
// a probe compares it without reading the Key.
type slot struct {
	id  string
	key *Key
}

// newIndex returns an empty index whose directory is sized for n keys.
func newIndex(n int) index {
	np := 1
	for np*pageKeys < n {
		np <<= 1
	}
	x := index{pages: newDir(np), seed: maphash.MakeSeed()}
	empty := newPage(0)
	for i := range x.pages {
		x.pages[i] = empty
	}
	return x
}

// newDir allocates a padded directory of np pages.
func newDir(np int) []*page {
	buf := make([]*page, pagePad+np+pagePad)
	return buf[pagePad : pagePad+np : pagePad+np]
}

// newPage returns an empty page with room for n keys.
func newPage(n int) *page {
	size := 8
	if n > 0 {
		size = max(size, 1<<bits.Len(uint(2*n)))
	}
	buf := make([]slot, indexPad+size+indexPad)
	return &page{slots: buf[indexPad : indexPad+size : indexPad+size]}
}

// find returns the key whose client id is id, or nil. It neither allocates
// nor keeps id.
func (x *index) find(id []byte) *Key {
	if len(x.pages) == 0 { // the zero Set
		return nil
	}
	h := maphash.Bytes(x.seed, id)
	p := x.pages[h&uint64(len(x.pages)-1)]
	mask := uint64(len(p.slots) - 1)
	for i := (h >> 32) & mask; ; i = (i + 1) & mask {
		if sl := &p.slots[i]; sl.key == nil || sl.id == string(id) {
			return sl.key
		}
	}
}

// probe returns the slot of p that holds id, or the empty slot where it
// would go.
func (p *page) probe(h uint64, id string) *slot {
	mask := uint64(len(p.slots) - 1)
	for i := (h >> 32) & mask; ; i = (i + 1) & mask {
		if sl := &p.slots[i]; sl.key == nil || sl.id == id {
			return sl
		}
	}
}

// insert records k under its client id in a page being built (not yet
// published). It reports false, and changes nothing, when the id is present.
func (p *page) insert(h uint64, k *Key) bool {
	sl := p.probe(h, k.ClientID)
	if sl.key != nil {
		return false
	}
	*sl = slot{id: k.ClientID, key: k}
	p.n++
	return true
}

// rebuilt returns a new page holding the keys of p, without the client ids
// for which drop returns true, with room for extra more.
func (p *page) rebuilt(seed maphash.Seed, extra int, drop func(id string) bool) *page {
	np := newPage(p.n + extra)
	for i := range p.slots {
		sl := &p.slots[i]
		if sl.key == nil || (drop != nil && drop(sl.id)) {
			continue
		}
		np.insert(maphash.String(seed, sl.id), sl.key)
	}
	return np
}

// build fills an index made by newIndex with keys (no duplicates). It
// reports the first duplicate client id, if any.
func (x *index) build(keys []*Key) (dup string, ok bool) {
	per := make([][]*Key, len(x.pages))
	hs := make([]uint64, len(keys))
	for i, k := range keys {
		hs[i] = maphash.String(x.seed, k.ClientID)
		pi := hs[i] & uint64(len(x.pages)-1)
		per[pi] = append(per[pi], k)
	}
	for pi, ks := range per {
		if len(ks) == 0 {
			continue
		}
		p := newPage(len(ks))
		for _, k := range ks {
			if !p.insert(maphash.String(x.seed, k.ClientID), k) {
				return k.ClientID, false
			}
		}
		x.pages[pi] = p
	}
	x.n = len(keys)
	return "", true
}

// with returns an index with the keys of put added or replaced (by client
// id) and the client ids of del removed. x is unchanged; the result shares
// every page no change falls in. The directory grows (a full re-page, once
// per fourfold growth) when pages would hold more than 4 × pageKeys keys on
// average.
func (x *index) with(put []*Key, del []string) index {
	nx := index{pages: newDir(len(x.pages)), seed: x.seed, n: x.n}
	copy(nx.pages, x.pages)
	type pageChange struct {
		put []*Key
		del map[string]bool
	}
	changes := map[int]*pageChange{}
	at := func(id string) *pageChange {
		pi := int(maphash.String(x.seed, id) & uint64(len(x.pages)-1))
		c := changes[pi]
		if c == nil {
			c = &pageChange{del: map[string]bool{}}
			changes[pi] = c
		}
		return c
	}
	for _, id := range del {
		at(id).del[id] = true
	}
	for _, k := range put {
		c := at(k.ClientID)
		c.del[k.ClientID] = true // replaced: the old entry goes
		c.put = append(c.put, k)
	}
	for pi, c := range changes {
		old := x.pages[pi]
		removed := 0
		for id := range c.del {
			if old.probe(maphash.String(x.seed, id), id).key != nil {
				removed++
			}
		}
		p := old.rebuilt(x.seed, len(c.put), func(id string) bool { return c.del[id] })
		for _, k := range c.put {
			if !p.insert(maphash.String(x.seed, k.ClientID), k) {
				// The last of several puts of one id wins.
				sl := p.probe(maphash.String(x.seed, k.ClientID), k.ClientID)
				sl.key = k
				removed++
			}
		}
		nx.pages[pi] = p
		nx.n += len(c.put) - removed
	}
	if nx.n > 4*pageKeys*len(nx.pages) {
		return nx.repaged()
	}
	return nx
}

// repaged returns the index with its directory sized for its keys.
func (x *index) repaged() index {
	keys := make([]*Key, 0, x.n)
	x.each(func(k *Key) bool { keys = append(keys, k); return true })
	nx := newIndex(len(keys))
	nx.seed = x.seed
	if _, ok := nx.build(keys); !ok {
		panic("BUG: duplicate client id in an index")
	}
	return nx
}

// each calls f for every key, in no particular order, until f returns false.
func (x *index) each(f func(*Key) bool) {
	var last *page
	for _, p := range x.pages {
		if p == last { // an empty index shares one page
			continue
		}
		last = p
		for i := range p.slots {
			if k := p.slots[i].key; k != nil && !f(k) {
				return
			}
		}
	}
}
