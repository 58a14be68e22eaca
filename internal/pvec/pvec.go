package pvec

const (
	chunkShift = 8
	chunkLen   = 1 << chunkShift // slots per chunk
	chunkMask  = chunkLen - 1
)

// Vec is an immutable vector of T indexed from 0. The zero Vec is empty: At
// returns nil for every index.
type Vec[T any] struct {
	dir []*[chunkLen]T
}

// Len returns the number of slots At answers for (a multiple of the chunk
// length, at least the largest index set plus one).
func (v Vec[T]) Len() int { return len(v.dir) * chunkLen }

// At returns a pointer to slot i (the zero T when it was never set), or nil
// when i is negative or past Len. The slot must not be modified. Safe from
// any goroutine, 0 allocs.
func (v Vec[T]) At(i int) *T {
	c := uint(i) >> chunkShift
	if c >= uint(len(v.dir)) {
		return nil
	}
	return &v.dir[c][i&chunkMask]
}

// Editor makes a new Vec from an old one, copying only what it changes.
type Editor[T any] struct {
	dir   []*[chunkLen]T
	owned []bool // by chunk: copied by this Editor, free to write
	done  bool
}

// Edit starts a new Vec from v; v is not changed. It copies v's directory
// (one pointer per chunk).
func (v Vec[T]) Edit() *Editor[T] {
	return &Editor[T]{dir: append([]*[chunkLen]T(nil), v.dir...), owned: make([]bool, len(v.dir))}
}

// Set stores x in slot i (i >= 0), growing the vector as needed; the chunk
// holding i is copied the first time this Editor writes into it.
func (e *Editor[T]) Set(i int, x T) {
	if e.done {
		panic("BUG: pvec.Editor used after Vec")
	}
	if i < 0 {
		panic("BUG: pvec: negative index")
	}
	c := i >> chunkShift
	for c >= len(e.dir) { // every chunk of a Vec exists: At reads no nil chunk
		e.dir = append(e.dir, new([chunkLen]T))
		e.owned = append(e.owned, true)
	}
	if !e.owned[c] {
		fresh := *e.dir[c]
		e.dir[c], e.owned[c] = &fresh, true
	}
	e.dir[c][i&chunkMask] = x
}

// Clear stores the zero T in slot i when i is within the vector; a slot past
// the end is already zero.
func (e *Editor[T]) Clear(i int) {
	if i >= 0 && i>>chunkShift < len(e.dir) {
		var zero T
		e.Set(i, zero)
	}
}

// Vec ends the edit and returns the new vector.
func (e *Editor[T]) Vec() Vec[T] {
	e.done = true
	return Vec[T]{dir: e.dir}
}
