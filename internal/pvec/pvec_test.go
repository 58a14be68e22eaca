package pvec

import (
	"math/rand/v2"
	"testing"
)

// TestEditMatchesSlice applies random batches of sets and clears to a Vec and
// to a plain slice, checking after each batch that both agree and that the
// Vec the batch started from still holds its old values (nothing shared was
// written).
func TestEditMatchesSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var v Vec[int]
	var want []int
	for round := range 300 {
		old, oldWant := v, append([]int(nil), want...)
		e := v.Edit()
		for range rng.IntN(20) {
			i := rng.IntN(3000)
			if rng.IntN(4) == 0 {
				e.Clear(i)
				if i < len(want) {
					want[i] = 0
				}
				continue
			}
			x := rng.Int()
			e.Set(i, x)
			for len(want) <= i {
				want = append(want, 0)
			}
			want[i] = x
		}
		v = e.Vec()
		check := func(v Vec[int], want []int, what string) {
			t.Helper()
			if v.Len() < len(want) {
				t.Fatalf("round %d, %s: Len %d < %d", round, what, v.Len(), len(want))
			}
			for i := range v.Len() + 1 {
				p := v.At(i)
				switch {
				case i >= v.Len():
					if p != nil {
						t.Fatalf("round %d, %s: At(%d) past Len is not nil", round, what, i)
					}
				case i < len(want) && *p != want[i], i >= len(want) && *p != 0:
					t.Fatalf("round %d, %s: At(%d) = %d, want %d", round, what, i, *p, want[i])
				}
			}
		}
		check(v, want, "new")
		check(old, oldWant, "old")
	}
	if v.At(-1) != nil {
		t.Fatal("At(-1) is not nil")
	}
}

func TestAtAllocs(t *testing.T) {
	var e Editor[int]
	e.Set(1000, 7)
	v := e.Vec()
	if n := testing.AllocsPerRun(100, func() { _ = v.At(1000) }); n != 0 {
		t.Fatalf("At allocates %v times", n)
	}
}

// BenchmarkEditOne is the cost of changing one slot of a 100k-slot vector
// (what one route write costs), against copying a flat slice of the same
// length (what a full rebuild costs at least).
func BenchmarkEditOne(b *testing.B) {
	e := Vec[[7]uint64]{}.Edit()
	for i := range 100_000 {
		e.Set(i, [7]uint64{uint64(i)})
	}
	v := e.Vec()
	b.Run("pvec", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			e := v.Edit()
			e.Set(i%100_000, [7]uint64{1})
			_ = e.Vec()
		}
	})
	flat := make([][7]uint64, 100_000)
	b.Run("flat-copy", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			cp := append([][7]uint64(nil), flat...)
			cp[i%100_000] = [7]uint64{1}
		}
	})
}

// BenchmarkAt is a read of one slot of a 100k-slot vector of 64-byte values (the size of a
// route policy), at pseudo-random indexes, against the same read from a flat slice: the cost
// the chunk directory adds on the hot path.
func BenchmarkAt(b *testing.B) {
	const n = 100_000
	e := Vec[[8]uint64]{}.Edit()
	flat := make([][8]uint64, n)
	for i := range n {
		e.Set(i, [8]uint64{uint64(i)})
		flat[i] = [8]uint64{uint64(i)}
	}
	v := e.Vec()
	b.Run("pvec", func(b *testing.B) {
		var sum uint64
		for i := range b.N {
			sum += v.At(int(uint32(i) * 2654435761 % n))[0]
		}
		sink = sum
	})
	b.Run("flat", func(b *testing.B) {
		var sum uint64
		for i := range b.N {
			sum += flat[int(uint32(i)*2654435761%n)][0]
		}
		sink = sum
	})
}

var sink uint64
