package hdr

import (
	"sort"
	"testing"
)

func BenchmarkRecord(b *testing.B) {
	h := NewDefault()
	b.ReportAllocs()
	v := int64(12345)
	for b.Loop() {
		h.Record(v)
		v = (v*2654435761 + 1) & (1<<30 - 1)
	}
}

// BenchmarkRecordSliceBaseline is the naive alternative: keep every value
// and sort once (amortised per value here, with the append).
func BenchmarkRecordSliceBaseline(b *testing.B) {
	b.ReportAllocs()
	var vals []int64
	v := int64(12345)
	for b.Loop() {
		vals = append(vals, v)
		v = (v*2654435761 + 1) & (1<<30 - 1)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
}
