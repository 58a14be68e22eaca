package plugin

import "unsafe"

// unsafeString returns b as a string without copying. The caller must not
// modify b while the string is in use and must not keep the string past the
// call it is passed to. Used only for bytes in a stack buffer that are
// copied out at once (appendJSONBytes).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
