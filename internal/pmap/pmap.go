package pmap

import (
	"iter"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Map is an immutable ordered map from string to V. The zero value is empty.
type Map[V any] struct {
	root *node[V]
}

type node[V any] struct {
	key         string
	val         V
	prio        uint64
	size        int
	left, right *node[V]
}

func (n *node[V]) sz() int {
	if n == nil {
		return 0
	}
	return n.size
}

// with returns a copy of n with new children (and its size fixed).
func (n *node[V]) with(left, right *node[V]) *node[V] {
	c := *n
	c.left, c.right = left, right
	c.size = 1 + left.sz() + right.sz()
	return &c
}

// Len returns the number of keys.
func (m Map[V]) Len() int { return m.root.sz() }

// Get returns the value of key and whether it is present. O(log n).
func (m Map[V]) Get(key string) (V, bool) {
	n := m.root
	for n != nil {
		switch c := strings.Compare(key, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.val, true
		}
	}
	var zero V
	return zero, false
}

// Has reports whether key is present.
func (m Map[V]) Has(key string) bool {
	_, ok := m.Get(key)
	return ok
}

// Set returns a map with key bound to val. O(log n) time and new nodes.
func (m Map[V]) Set(key string, val V) Map[V] {
	return Map[V]{root: insert(m.root, &node[V]{key: key, val: val, prio: xxhash.Sum64String(key), size: 1})}
}

func insert[V any](n, x *node[V]) *node[V] {
	if n == nil {
		return x
	}
	c := strings.Compare(x.key, n.key)
	if c == 0 {
		r := *x
		r.prio, r.left, r.right, r.size = n.prio, n.left, n.right, n.size
		return &r
	}
	if x.prio > n.prio {
		// x becomes the root of this subtree: split n around x's key.
		l, r := split(n, x.key)
		return x.with(l, r)
	}
	if c < 0 {
		return n.with(insert(n.left, x), n.right)
	}
	return n.with(n.left, insert(n.right, x))
}

// split returns the nodes of n with keys below key and above it (key is not
// in n).
func split[V any](n *node[V], key string) (*node[V], *node[V]) {
	if n == nil {
		return nil, nil
	}
	if key < n.key {
		l, r := split(n.left, key)
		return l, n.with(r, n.right)
	}
	l, r := split(n.right, key)
	return n.with(n.left, l), r
}

// Delete returns a map without key (m itself when key is absent).
func (m Map[V]) Delete(key string) Map[V] {
	root, ok := remove(m.root, key)
	if !ok {
		return m
	}
	return Map[V]{root: root}
}

func remove[V any](n *node[V], key string) (*node[V], bool) {
	if n == nil {
		return nil, false
	}
	switch c := strings.Compare(key, n.key); {
	case c < 0:
		l, ok := remove(n.left, key)
		if !ok {
			return n, false
		}
		return n.with(l, n.right), true
	case c > 0:
		r, ok := remove(n.right, key)
		if !ok {
			return n, false
		}
		return n.with(n.left, r), true
	}
	return join(n.left, n.right), true
}

// join merges two treaps whose keys are all below (a) and above (b).
func join[V any](a, b *node[V]) *node[V] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		return a.with(a.left, join(a.right, b))
	default:
		return b.with(join(a, b.left), b.right)
	}
}

// At returns the i-th key (0-based, in key order) and its value. It panics
// when i is out of range, like a slice index.
func (m Map[V]) At(i int) (string, V) {
	if i < 0 || i >= m.Len() {
		panic("BUG: pmap.At index out of range")
	}
	n := m.root
	for {
		l := n.left.sz()
		switch {
		case i < l:
			n = n.left
		case i > l:
			i -= l + 1
			n = n.right
		default:
			return n.key, n.val
		}
	}
}

// All yields every key and value in key order.
func (m Map[V]) All() iter.Seq2[string, V] {
	return m.From(0)
}

// From yields the keys and values in key order starting at the i-th.
func (m Map[V]) From(i int) iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		var walk func(n *node[V], skip int) bool
		walk = func(n *node[V], skip int) bool {
			if n == nil {
				return true
			}
			l := n.left.sz()
			if skip < l && !walk(n.left, skip) {
				return false
			}
			if skip <= l && !yield(n.key, n.val) {
				return false
			}
			return walk(n.right, max(skip-l-1, 0))
		}
		walk(m.root, i)
	}
}

// Values returns the values in key order (a new slice).
func (m Map[V]) Values() []V {
	out := make([]V, 0, m.Len())
	for _, v := range m.All() {
		out = append(out, v)
	}
	return out
}

// Build returns the map of keys (sorted, without duplicates) to vals, in
// O(n): it builds the treap as a Cartesian tree with one stack pass instead
// of n insertions. It panics when keys are not sorted or have a duplicate.
func Build[V any](keys []string, vals []V) Map[V] {
	if len(keys) != len(vals) {
		panic("BUG: pmap.Build with more keys than values or the reverse")
	}
	var stack []*node[V]
	for i, k := range keys {
		if i > 0 && keys[i-1] >= k {
			panic("BUG: pmap.Build keys not sorted or duplicated")
		}
		n := &node[V]{key: k, val: vals[i], prio: xxhash.Sum64String(k), size: 1}
		var last *node[V]
		for len(stack) > 0 && stack[len(stack)-1].prio < n.prio {
			last = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		}
		n.left = last
		if len(stack) > 0 {
			stack[len(stack)-1].right = n
		}
		stack = append(stack, n)
	}
	if len(stack) == 0 {
		return Map[V]{}
	}
	root := stack[0]
	fixSizes(root)
	return Map[V]{root: root}
}

// fixSizes sets the sizes of a tree under construction.
func fixSizes[V any](n *node[V]) int {
	if n == nil {
		return 0
	}
	n.size = 1 + fixSizes(n.left) + fixSizes(n.right)
	return n.size
}
