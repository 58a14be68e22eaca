package privateapp

import "unsafe"

// unsafeBytes returns the bytes of s without copying. Validity rule: the
// result is only read (compared) during the call that made it, and s is an
// immutable string, so nothing can observe or modify the shared memory.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
