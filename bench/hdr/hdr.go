package hdr

import (
	"fmt"
	"math"
	"math/bits"
)

// Default layout: 2^-7 (0.78%) relative error, values up to 2^36 ns (about
// 68.7 s). That is 3,840 counters, 30 KiB per histogram.
const (
	DefaultSubBits = 7
	DefaultMax     = int64(1) << 36
)

// Histogram counts int64 values (nanoseconds, by convention) in log-linear
// buckets. Values below 2^SubBits have a bucket each; above, every power of
// two is split into 2^SubBits equal buckets.
type Histogram struct {
	subBits uint
	max     int64
	counts  []uint64
	total   uint64
	min     int64
	maxSeen int64
	sum     float64
}

// New returns an empty histogram with relative error 2^-subBits for values
// up to max. subBits must be in [1, 16] and max at least 2^subBits.
func New(subBits uint, max int64) (*Histogram, error) {
	if subBits < 1 || subBits > 16 || max < int64(1)<<subBits || max > math.MaxInt64/2 {
		return nil, fmt.Errorf("cannot create histogram with subBits=%d max=%d: %w", subBits, max, ErrConfig)
	}
	h := &Histogram{subBits: subBits, max: max}
	h.counts = make([]uint64, h.index(max)+1)
	h.Reset()
	return h, nil
}

// NewDefault returns an empty histogram with the default layout.
func NewDefault() *Histogram {
	h, err := New(DefaultSubBits, DefaultMax)
	if err != nil {
		panic("BUG: default histogram layout rejected: " + err.Error())
	}
	return h
}

// index maps v (0 <= v <= max) to its bucket. Below 2^subBits the mapping is
// the identity; above, shift drops all but the top subBits+1 bits, and each
// shift level adds 2^subBits buckets, so indexes are contiguous.
func (h *Histogram) index(v int64) int {
	u := uint64(v)
	if u < 1<<h.subBits {
		return int(u)
	}
	shift := uint(bits.Len64(u)) - h.subBits - 1
	return int(shift<<h.subBits + uint(u>>shift))
}

// highest returns the largest value that maps to bucket i.
func (h *Histogram) highest(i int) int64 {
	sub := int64(1) << h.subBits
	if int64(i) < sub {
		return int64(i)
	}
	shift := uint(int64(i)>>h.subBits) - 1
	top := int64(i) - int64(shift)<<h.subBits // in [2^subBits, 2^(subBits+1))
	return (top+1)<<shift - 1
}

// Record counts one value. It does not allocate.
func (h *Histogram) Record(v int64) {
	h.RecordN(v, 1)
}

// RecordN counts n occurrences of v.
func (h *Histogram) RecordN(v int64, n uint64) {
	if n == 0 {
		return
	}
	if v < 0 {
		v = 0
	}
	if v < h.min {
		h.min = v
	}
	if v > h.maxSeen {
		h.maxSeen = v
	}
	h.sum += float64(v) * float64(n)
	h.total += n
	if v > h.max {
		v = h.max
	}
	h.counts[h.index(v)] += n
}

// Reset empties the histogram, keeping its layout and memory.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.total = 0
	h.min = math.MaxInt64
	h.maxSeen = 0
	h.sum = 0
}

// Merge adds every count of o into h. Both must have the same layout.
func (h *Histogram) Merge(o *Histogram) error {
	if h.subBits != o.subBits || h.max != o.max {
		return fmt.Errorf("cannot merge histogram (subBits=%d max=%d) into (subBits=%d max=%d): %w",
			o.subBits, o.max, h.subBits, h.max, ErrLayout)
	}
	if o.total == 0 {
		return nil
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.maxSeen = max(h.maxSeen, o.maxSeen)
	return nil
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Min returns the smallest recorded value exactly, or 0 when empty.
func (h *Histogram) Min() int64 {
	if h.total == 0 {
		return 0
	}
	return h.min
}

// Max returns the largest recorded value exactly, or 0 when empty.
func (h *Histogram) Max() int64 { return h.maxSeen }

// Mean returns the arithmetic mean of the recorded values, or 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// RelativeError returns the bound on (reported-exact)/exact for Quantile: 2^-SubBits.
func (h *Histogram) RelativeError() float64 { return 1 / float64(int64(1)<<h.subBits) }

// Quantile returns the value at quantile q in [0, 1] with the nearest-rank
// definition: the smallest recorded value v such that at least ceil(q*Count)
// values are <= v (q = 0 gives the minimum). The result is the highest value
// of v's bucket, clamped to [Min, Max], so exact <= result <=
// exact*(1+RelativeError()) for values up to the histogram's max.
// It returns 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	if !(q > 0) { // also catches NaN
		return h.min
	}
	if q >= 1 {
		return h.maxSeen
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(h.highest(i), h.min), h.maxSeen)
		}
	}
	return h.maxSeen
}

// Point is one step of a percentile distribution.
type Point struct {
	Quantile float64 // in [0, 1]
	Value    int64
}

// Distribution returns the value at quantiles spread evenly on a "nines"
// scale (x = log10(1/(1-q))): steps per decade, from q=0 up to the last
// quantile the sample size can resolve, then the maximum (q=1). It returns
// nil when the histogram is empty.
func (h *Histogram) Distribution(stepsPerDecade int) []Point {
	if h.total == 0 {
		return nil
	}
	stepsPerDecade = max(stepsPerDecade, 1)
	// With n values, the highest quantile that is not the max is 1-1/n.
	top := math.Log10(float64(h.total))
	var pts []Point
	for i := 0; ; i++ {
		x := float64(i) / float64(stepsPerDecade)
		if x > top {
			break
		}
		q := 1 - math.Pow(10, -x)
		pts = append(pts, Point{Quantile: q, Value: h.Quantile(q)})
	}
	return append(pts, Point{Quantile: 1, Value: h.maxSeen})
}
