//go:build toriifault

package quota

// SetFailedFlushLimit lowers the number of failed flushes in a row after which Run gives up.
// Only in binaries built with the toriifault tag, for cmd/torii's exit status tests.
func SetFailedFlushLimit(n int) { failedFlushLimit.Store(int32(n)) }
