package hdr

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile is the nearest-rank quantile of sorted data, the definition
// Quantile promises to approximate.
func exactQuantile(sorted []int64, q float64) int64 {
	if q <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestQuantileAgainstExact(t *testing.T) {
	f := func(name string, gen func(r *rand.Rand) int64) {
		t.Helper()
		r := rand.New(rand.NewPCG(1, 2))
		h := NewDefault()
		data := make([]int64, 50_000)
		for i := range data {
			data[i] = gen(r)
			h.Record(data[i])
		}
		slices.Sort(data)
		for _, q := range []float64{0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
			exact := exactQuantile(data, q)
			got := h.Quantile(q)
			if got < exact || float64(got) > float64(exact)*(1+h.RelativeError()) {
				t.Errorf("%s: Quantile(%v) = %d, exact %d, allowed [%d, %.0f]",
					name, q, got, exact, exact, float64(exact)*(1+h.RelativeError()))
			}
		}
		if h.Min() != data[0] || h.Max() != data[len(data)-1] {
			t.Errorf("%s: Min/Max = %d/%d, want %d/%d", name, h.Min(), h.Max(), data[0], data[len(data)-1])
		}
		if h.Count() != uint64(len(data)) {
			t.Errorf("%s: Count = %d, want %d", name, h.Count(), len(data))
		}
	}
	f("uniform small", func(r *rand.Rand) int64 { return r.Int64N(100) })
	f("uniform µs", func(r *rand.Rand) int64 { return 20_000 + r.Int64N(200_000) })
	f("log-uniform ns..s", func(r *rand.Rand) int64 { return int64(math.Pow(10, r.Float64()*9)) })
	f("bimodal", func(r *rand.Rand) int64 {
		if r.IntN(100) == 0 {
			return 5_000_000 + r.Int64N(1_000_000)
		}
		return 40_000 + r.Int64N(5_000)
	})
}

func TestQuantileKnownValues(t *testing.T) {
	h := NewDefault()
	for v := int64(1); v <= 100; v++ {
		h.Record(v)
	}
	// Values below 2^7 have exact buckets, so these quantiles are exact.
	f := func(q float64, want int64) {
		t.Helper()
		if got := h.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %d, want %d", q, got, want)
		}
	}
	f(0, 1)
	f(0.5, 50)
	f(0.9, 90)
	f(0.99, 99)
	f(0.999, 100)
	f(1, 100)
	if got := h.Mean(); got != 50.5 {
		t.Errorf("Mean = %v, want 50.5", got)
	}
}

func TestIndexContiguousAndBounded(t *testing.T) {
	h, err := New(4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	prev := -1
	for v := int64(0); v <= 1<<20; v++ {
		i := h.index(v)
		if i != prev && i != prev+1 {
			t.Fatalf("index(%d) = %d after %d: not contiguous", v, i, prev)
		}
		if hi := h.highest(i); v > hi {
			t.Fatalf("value %d above its bucket's highest %d", v, hi)
		}
		if i > 0 && h.highest(i-1) >= v {
			t.Fatalf("value %d also fits bucket %d (highest %d)", v, i-1, h.highest(i-1))
		}
		prev = i
	}
	if prev != len(h.counts)-1 {
		t.Fatalf("last index %d, counts has %d", prev, len(h.counts))
	}
}

func TestMerge(t *testing.T) {
	all := NewDefault()
	parts := []*Histogram{NewDefault(), NewDefault(), NewDefault()}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 30_000 {
		v := r.Int64N(10_000_000)
		all.Record(v)
		parts[i%3].Record(v)
	}
	merged := NewDefault()
	for _, p := range parts {
		if err := merged.Merge(p); err != nil {
			t.Fatal(err)
		}
	}
	if merged.Count() != all.Count() || merged.Min() != all.Min() || merged.Max() != all.Max() {
		t.Fatalf("merged count/min/max %d/%d/%d, want %d/%d/%d",
			merged.Count(), merged.Min(), merged.Max(), all.Count(), all.Min(), all.Max())
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		if merged.Quantile(q) != all.Quantile(q) {
			t.Errorf("Quantile(%v): merged %d, single %d", q, merged.Quantile(q), all.Quantile(q))
		}
	}
	other, _ := New(5, DefaultMax)
	if err := merged.Merge(other); !errors.Is(err, ErrLayout) {
		t.Fatalf("Merge of another layout: err = %v, want ErrLayout", err)
	}
}

func TestEdgeValues(t *testing.T) {
	h := NewDefault()
	if h.Quantile(0.5) != 0 || h.Min() != 0 || h.Max() != 0 || h.Distribution(10) != nil {
		t.Fatal("empty histogram must report zeros and no distribution")
	}
	h.Record(-5)
	h.Record(DefaultMax * 4)
	if h.Min() != 0 || h.Max() != DefaultMax*4 {
		t.Fatalf("Min/Max = %d/%d, want 0/%d", h.Min(), h.Max(), DefaultMax*4)
	}
	if got := h.Quantile(1); got != DefaultMax*4 {
		t.Fatalf("Quantile(1) = %d, want the exact max", got)
	}
	if got := h.Quantile(math.NaN()); got != 0 {
		t.Fatalf("Quantile(NaN) = %d, want min", got)
	}
	for _, c := range []struct {
		bits uint
		max  int64
	}{{0, 1 << 20}, {17, 1 << 40}, {7, 100}} {
		if _, err := New(c.bits, c.max); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%d, %d): err = %v, want ErrConfig", c.bits, c.max, err)
		}
	}
}

func TestDistribution(t *testing.T) {
	h := NewDefault()
	for v := int64(1); v <= 10_000; v++ {
		h.Record(v * 1000)
	}
	pts := h.Distribution(5)
	// 4 decades (n = 10^4) at 5 steps each, plus q=0 and the max.
	if len(pts) != 4*5+2 {
		t.Fatalf("got %d points, want 22", len(pts))
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].Quantile <= pts[i-1].Quantile || pts[i].Value < pts[i-1].Value {
			t.Fatalf("points not increasing at %d: %+v then %+v", i, pts[i-1], pts[i])
		}
	}
	if last := pts[len(pts)-1]; last.Quantile != 1 || last.Value != 10_000_000 {
		t.Fatalf("last point %+v, want q=1 at the max", last)
	}
}
