// Package pmap is a persistent (immutable, structurally shared) ordered map
// from string keys to values: a treap whose node priorities are a hash of the
// key, so its shape depends only on its contents. Set and Delete return a new
// Map and copy only the O(log n) nodes on the path to the key; the old Map is
// unchanged and both share every other node. Nodes carry subtree sizes, so
// At (the i-th key in order) is O(log n): pages of a sorted listing cost
// O(log n + page size).
//
// The admin API keeps each entity kind in a Map: a write clones the whole
// configuration in O(1) and changes it in O(log n), instead of copying maps of
// a million entries.
//
// # Caveats
//
// A Map is a value that is safe to share and read from any number of
// goroutines; Set and Delete never modify it. The zero Map is empty and ready
// to use. Values are stored as given: the caller must not modify a value
// reachable from a Map that others may read.
package pmap
