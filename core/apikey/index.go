package apikey

import (
	"hash/maphash"
	"unsafe"
)

// cacheLine is the unit of sharing between cores. Data every event loop
// reads on every request is kept on lines of its own: a line that also holds
// something one core writes (a loop's connection state, another object the
// allocator put next to ours) is pulled back and forth on each read by the
// other cores (false sharing). On two cores that doubled the cost of a key
// lookup, depending on where the runtime placed its map's table header.
const cacheLine = 64

// indexPad is the number of slots of padding on each side of the index's
// slots: at least a cache line.
const indexPad = (cacheLine + int(unsafe.Sizeof(slot{})) - 1) / int(unsafe.Sizeof(slot{}))

// index maps client ids to keys by open addressing with linear probing. It
// is built once, read by every loop and never written after, and its slots
// sit between cache lines of padding so that no object written by a core
// shares a line with them.
type index struct {
	// slots has a length that is a power of two at least twice the number
	// of keys, so a probe sequence is short and always reaches an empty
	// slot (key nil).
	slots []slot
	seed  maphash.Seed
}

// slot is one entry of an index: the client id is kept beside the key so
// that a probe compares it without reading the Key.
type slot struct {
	id  string
	key *Key
}

// newIndex returns an empty index sized for n keys.
func newIndex(n int) index {
	size := 8
	for size < 2*n {
		size <<= 1
	}
	buf := make([]slot, indexPad+size+indexPad)
	return index{slots: buf[indexPad : indexPad+size : indexPad+size], seed: maphash.MakeSeed()}
}

// find returns the key whose client id is id, or nil. It neither allocates
// nor keeps id.
func (x *index) find(id []byte) *Key {
	if len(x.slots) == 0 { // the zero Set
		return nil
	}
	return x.slots[x.probe(id)].key
}

// insert records k under its client id. It reports false, and changes
// nothing, when that id is already present.
func (x *index) insert(k *Key) bool {
	sl := &x.slots[x.probe([]byte(k.ClientID))]
	if sl.key != nil {
		return false
	}
	*sl = slot{id: k.ClientID, key: k}
	return true
}

// probe returns the index of the slot that holds id, or of the empty slot
// where it would go.
func (x *index) probe(id []byte) uint64 {
	mask := uint64(len(x.slots) - 1)
	for i := maphash.Bytes(x.seed, id) & mask; ; i = (i + 1) & mask {
		if sl := &x.slots[i]; sl.key == nil || sl.id == string(id) {
			return i
		}
	}
}
