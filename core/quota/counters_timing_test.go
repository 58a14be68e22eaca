package quota

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// The baseline is the same counting logic behind one mutex and one map
// (Shards: 1), what a straightforward implementation would do.

var benchNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

var benchLimits = Limits{Throttle: Unlimited, Daily: Unlimited, Monthly: Unlimited}

func benchIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "client-" + strconv.Itoa(i) + "-xxxxxxxx"
	}
	return ids
}

func benchTake(b *testing.B, c *Counters) {
	ids := benchIDs(1024)
	for _, id := range ids {
		c.Take(id, benchLimits, benchNow)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		c.Take(ids[i&1023], benchLimits, benchNow)
		i++
	}
}

func BenchmarkTake(b *testing.B)               { benchTake(b, New(Options{})) }
func BenchmarkTakeSingleMutexMap(b *testing.B) { benchTake(b, New(Options{Shards: 1})) }

// benchTakeParallel has each goroutine call with its own keys, as event
// loops serving different clients do.
func benchTakeParallel(b *testing.B, c *Counters, sameKey bool) {
	ids := benchIDs(1024)
	for _, id := range ids {
		c.Take(id, benchLimits, benchNow)
	}
	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		base := int(worker.Add(1)) * 97
		i := 0
		for pb.Next() {
			id := ids[0]
			if !sameKey {
				id = ids[(base+i)&1023]
			}
			c.Take(id, benchLimits, benchNow)
			i++
		}
	})
}

func BenchmarkTakeParallel(b *testing.B) { benchTakeParallel(b, New(Options{}), false) }
func BenchmarkTakeParallelSingleMutexMap(b *testing.B) {
	benchTakeParallel(b, New(Options{Shards: 1}), false)
}
func BenchmarkTakeParallelSameKey(b *testing.B) { benchTakeParallel(b, New(Options{}), true) }

// BenchmarkTakeSlot is the path of a caller that keeps each key's Slot
// (apikey binds them at compile time): no map lookup, no hashing.
func BenchmarkTakeSlot(b *testing.B) {
	c := New(Options{})
	ids := benchIDs(1024)
	slots := make([]*Slot, len(ids))
	for i, id := range ids {
		slots[i] = c.Slot(id)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.TakeSlot(slots[i&1023], benchLimits, benchNow)
		i++
	}
}

func BenchmarkTakeSlotParallel(b *testing.B) {
	c := New(Options{})
	ids := benchIDs(1024)
	slots := make([]*Slot, len(ids))
	for i, id := range ids {
		slots[i] = c.Slot(id)
	}
	var worker atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		base := int(worker.Add(1)) * 97
		i := 0
		for pb.Next() {
			c.TakeSlot(slots[(base+i)&1023], benchLimits, benchNow)
			i++
		}
	})
}
