//go:build !race

package core

import "testing"

// Filtering a trailer section allocates nothing.
func TestFilterTrailerZeroAllocs(t *testing.T) {
	const in = "X-Checksum: 1\r\nHost: x\r\nOtoroshi-Client-Id: a\r\nX_Under: 1\r\nX-Digest: 2\r\n\r\n"
	elem := []byte(in)
	allocs := testing.AllocsPerRun(1000, func() {
		copy(elem, in)
		if n := filterTrailer(elem, false); n != len("X-Checksum: 1\r\nX-Digest: 2\r\n\r\n") {
			t.Fatalf("kept %q", elem[:n])
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocs per filterTrailer, want 0", allocs)
	}
}
