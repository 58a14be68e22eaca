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

// lineInts is the number of int32 on one cache line, the padding put on each
// side of the index's slots.
const lineInts = cacheLine / int(unsafe.Sizeof(int32(0)))

// index maps client ids to positions in Set.keys by open addressing with
// linear probing. It is built once, read by every loop and never written
// after, and its slots sit between two cache lines of padding so that no
// object written by a core shares a line with them.
type index struct {
	// slots holds position+1 of a key, or 0 for an empty slot. Its length is
	// a power of two at least twice the number of keys, so a probe sequence
	// is short and always reaches an empty slot.
	slots []int32
	seed  maphash.Seed
}

// newIndex returns an empty index sized for n keys.
func newIndex(n int) index {
	size := 8
	for size < 2*n {
		size <<= 1
	}
	buf := make([]int32, lineInts+size+lineInts)
	return index{slots: buf[lineInts : lineInts+size : lineInts+size], seed: maphash.MakeSeed()}
}

// find returns the position in keys of the key whose client id is id, or -1.
// It neither allocates nor keeps id.
func (x *index) find(keys []Key, id []byte) int {
	if len(x.slots) == 0 { // the zero Set
		return -1
	}
	_, pos := x.probe(keys, id)
	return pos
}

// insert records keys[pos] under its client id. It reports false, and
// changes nothing, when that id is already present.
func (x *index) insert(keys []Key, pos int) bool {
	i, found := x.probe(keys, []byte(keys[pos].ClientID))
	if found >= 0 {
		return false
	}
	x.slots[i] = int32(pos + 1)
	return true
}

// probe returns the slot that holds id, or the empty slot where it would go,
// and the position of id's key in keys, or -1.
func (x *index) probe(keys []Key, id []byte) (slot uint64, pos int) {
	mask := uint64(len(x.slots) - 1)
	for i := maphash.Bytes(x.seed, id) & mask; ; i = (i + 1) & mask {
		p := x.slots[i]
		if p == 0 {
			return i, -1
		}
		if keys[p-1].ClientID == string(id) {
			return i, int(p - 1)
		}
	}
}
