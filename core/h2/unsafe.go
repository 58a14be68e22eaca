package h2

import "unsafe"

// unsafeBytes returns the bytes of s without copying; they must not be modified.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
