package event

import (
	"iter"
	"slices"
	"strings"
)

// Pairs is a small map of strings kept as one flat list, key, value, key, value..., sorted by
// key, each key once. It is the metadata of an Identity: an API key's metadata is read by its id
// on the hot path (plugins) and written whole into events, and a million keys each holding a Go
// map would cost about 300 bytes of map per key, against 16 bytes per entry here.
//
// A Pairs is immutable once built: share it, never change its elements.
type Pairs []string

// PairsOf returns the entries of m as Pairs; nil when m is empty.
func PairsOf(m map[string]string) Pairs {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	p := make(Pairs, 0, 2*len(keys))
	for _, k := range keys {
		p = append(p, k, m[k])
	}
	return p
}

// Get returns the value of key k and whether it is present. It does not allocate.
func (p Pairs) Get(k string) (string, bool) {
	lo, hi := 0, len(p)/2
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch c := strings.Compare(p[2*mid], k); {
		case c == 0:
			return p[2*mid+1], true
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return "", false
}

// Len returns the number of entries.
func (p Pairs) Len() int { return len(p) / 2 }

// All yields the entries in key order.
func (p Pairs) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i := 0; i+1 < len(p); i += 2 {
			if !yield(p[i], p[i+1]) {
				return
			}
		}
	}
}

// Map returns the entries as a fresh map (never nil), for callers that need one (JSON documents).
func (p Pairs) Map() map[string]string {
	m := make(map[string]string, len(p)/2)
	for k, v := range p.All() {
		m[k] = v
	}
	return m
}
