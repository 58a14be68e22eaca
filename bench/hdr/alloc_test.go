//go:build !race

package hdr

import "testing"

func TestRecordDoesNotAllocate(t *testing.T) {
	h := NewDefault()
	v := int64(1)
	if n := testing.AllocsPerRun(1000, func() { h.Record(v); v = v*3 + 7 }); n != 0 {
		t.Fatalf("Record allocates %v times per call", n)
	}
}
