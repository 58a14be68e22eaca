package apikey

import "unsafe"

// The package's only unsafe conversions. A compiled Key keeps its strings in one block of bytes
// (an arena) that is written while the key is compiled and never again: a string viewing part of
// it stays valid and unchanged for as long as the key is reachable. bytesOf hands out the bytes of
// such a string to code that only reads them (constant-time compares, HMAC keys).

// arena is the block a Key's strings are copied into, allocated with the exact size they need.
type arena struct{ b []byte }

// str copies s into the arena and returns the copy.
func (a *arena) str(s string) string {
	if s == "" {
		return ""
	}
	start := len(a.b)
	a.b = append(a.b, s...)
	return unsafe.String(&a.b[start], len(s))
}

// bytesOf returns the bytes of s without copying; the caller must not change them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
