// Package pvec is a persistent (immutable, structurally shared) vector indexed
// by small non-negative integers, for per-route state kept by
// route.Compiled.Index: a directory of fixed-size chunks. Changing k slots
// copies the directory and the chunks holding them (at 100k slots, a
// directory of 391 pointers and 256-slot chunks), so a route write that
// touches one route costs microseconds instead of a copy of every slot, and
// reading a slot is one more dependent load than a flat slice.
//
// # Caveats
//
// A Vec is a value that is safe to share and read from any number of
// goroutines once built. An Editor writes only the chunks it copied itself
// and must be used by one goroutine; Vec ends the edit (the Editor must not
// be used again). Values are stored as given: the caller must not modify a
// value reachable from a Vec that others may read, and At returns a pointer
// into a shared chunk that must only be read.
package pvec
