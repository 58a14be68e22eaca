package metric

import (
	"io"
	"math/bits"
	"strconv"
	"sync/atomic"
	"time"
)

// Latency buckets: bucket i holds durations in (bucketBase·2^(i-1), bucketBase·2^i],
// bucket 0 everything up to bucketBase, and the last bucket everything above
// the largest bound (+Inf). Powers of two make the index one bits.Len64.
const (
	bucketBase   = 50 * time.Microsecond
	boundBuckets = 20               // 50µs … 50µs·2^19 ≈ 26.2s
	numBuckets   = boundBuckets + 1 // plus +Inf
	histWords    = numBuckets + 1   // buckets and the sum in nanoseconds
	histSumIndex = numBuckets       // index of the nanosecond sum
	maxBoundNs   = int64(bucketBase) << (boundBuckets - 1)
)

// bucketOf returns the bucket index of a duration in nanoseconds.
func bucketOf(ns int64) int {
	if ns <= int64(bucketBase) {
		return 0
	}
	if ns > maxBoundNs {
		return boundBuckets
	}
	return bits.Len64(uint64(ns-1) / uint64(bucketBase))
}

// bucketBound returns the upper bound of bucket i in seconds, as Prometheus text.
var bucketBounds = func() [boundBuckets]string {
	var b [boundBuckets]string
	for i := range b {
		b[i] = strconv.FormatFloat((bucketBase << i).Seconds(), 'g', -1, 64)
	}
	return b
}()

// hist is one shard of a latency histogram: non-cumulative bucket counts and
// the sum of the observed durations in nanoseconds.
type hist [histWords]atomic.Uint64

// observe records one duration. Negative durations count as zero.
func (h *hist) observe(ns int64) {
	if ns < 0 {
		ns = 0
	}
	h[bucketOf(ns)].Add(1)
	h[histSumIndex].Add(uint64(ns))
}

// histSnapshot is a point-in-time copy of a histogram summed over shards.
type histSnapshot [histWords]uint64

func (s *histSnapshot) add(h *hist) {
	for i := range h {
		s[i] += h[i].Load()
	}
}

func (s *histSnapshot) count() uint64 {
	var n uint64
	for _, c := range s[:numBuckets] {
		n += c
	}
	return n
}

// sub returns s minus an earlier snapshot of the same histogram.
func (s *histSnapshot) sub(prev *histSnapshot) histSnapshot {
	var d histSnapshot
	for i := range s {
		d[i] = s[i] - prev[i]
	}
	return d
}

// quantile returns an estimate of the q-quantile (0 < q ≤ 1) as the upper
// bound of the bucket holding it, or 0 when the histogram is empty. The
// overflow bucket reports the largest finite bound.
func (s *histSnapshot) quantile(q float64) time.Duration {
	n := s.count()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range s[:numBuckets] {
		seen += c
		if seen >= rank {
			if i >= boundBuckets {
				i = boundBuckets - 1
			}
			return bucketBase << i
		}
	}
	return bucketBase << (boundBuckets - 1)
}

// writeProm writes s as a Prometheus histogram family member: name_bucket with
// cumulative le labels, name_sum in seconds and name_count. labels is the
// label list without braces (may be empty).
func (s *histSnapshot) writeProm(w io.Writer, buf []byte, name, labels string) []byte {
	var cum uint64
	for i := range numBuckets {
		cum += s[i]
		le := "+Inf"
		if i < boundBuckets {
			le = bucketBounds[i]
		}
		buf = append(buf[:0], name...)
		buf = append(buf, "_bucket{"...)
		if labels != "" {
			buf = append(buf, labels...)
			buf = append(buf, ',')
		}
		buf = append(buf, `le="`...)
		buf = append(buf, le...)
		buf = append(buf, "\"} "...)
		buf = strconv.AppendUint(buf, cum, 10)
		buf = append(buf, '\n')
		_, _ = w.Write(buf)
	}
	buf = appendSample(buf[:0], name+"_sum", labels)
	buf = strconv.AppendFloat(buf, time.Duration(s[histSumIndex]).Seconds(), 'g', -1, 64)
	buf = append(buf, '\n')
	buf = appendSample(buf, name+"_count", labels)
	buf = strconv.AppendUint(buf, cum, 10)
	buf = append(buf, '\n')
	_, _ = w.Write(buf)
	return buf
}

// appendSample appends `name{labels} ` (or `name ` without labels).
func appendSample(buf []byte, name, labels string) []byte {
	buf = append(buf, name...)
	if labels != "" {
		buf = append(buf, '{')
		buf = append(buf, labels...)
		buf = append(buf, '}')
	}
	return append(buf, ' ')
}

// appendLabelValue appends v quoted as a Prometheus label value: backslash,
// double quote and newline are escaped.
func appendLabelValue(buf []byte, v string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			buf = append(buf, `\\`...)
		case '"':
			buf = append(buf, `\"`...)
		case '\n':
			buf = append(buf, `\n`...)
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}
