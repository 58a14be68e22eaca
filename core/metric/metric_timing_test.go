package metric

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// BenchmarkRecord measures one request's recording from parallel "loops",
// each with its own shard index.
func BenchmarkRecord(b *testing.B) {
	m := NewSet(8).Route("r")
	var loops atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		loop := int(loops.Add(1))
		for pb.Next() {
			m.Begin(loop)
			m.Done(loop, 200, 100, 1000, 3*time.Millisecond, 2*time.Millisecond, time.Millisecond)
		}
	})
}

// BenchmarkRecordBaselineVM records the same values with VictoriaMetrics
// counters and (mutex-guarded) histograms shared by all goroutines.
func BenchmarkRecordBaselineVM(b *testing.B) {
	s := metrics.NewSet()
	calls := s.NewCounter(`calls{route="r",class="2xx"}`)
	in, out := s.NewCounter(`in{route="r"}`), s.NewCounter(`out{route="r"}`)
	total, backend, overhead := s.NewHistogram(`total{route="r"}`), s.NewHistogram(`backend{route="r"}`), s.NewHistogram(`overhead{route="r"}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			calls.Inc()
			in.Add(100)
			out.Add(1000)
			total.Update(0.003)
			backend.Update(0.002)
			overhead.Update(0.001)
		}
	})
}

// BenchmarkRecordBaselineNothing is the loop overhead alone.
func BenchmarkRecordBaselineNothing(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
		}
	})
}

// BenchmarkRecordSerial is BenchmarkRecord from one goroutine: the per-loop
// cost without cross-core effects.
func BenchmarkRecordSerial(b *testing.B) {
	m := NewSet(8).Route("r")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.Begin(3)
		m.Done(3, 200, 100, 1000, 3*time.Millisecond, 2*time.Millisecond, time.Millisecond)
	}
}

// BenchmarkRecordSerialBaselineVM is BenchmarkRecordBaselineVM from one goroutine.
func BenchmarkRecordSerialBaselineVM(b *testing.B) {
	s := metrics.NewSet()
	calls := s.NewCounter(`calls{route="r",class="2xx"}`)
	in, out := s.NewCounter(`in{route="r"}`), s.NewCounter(`out{route="r"}`)
	total, backend, overhead := s.NewHistogram(`total{route="r"}`), s.NewHistogram(`backend{route="r"}`), s.NewHistogram(`overhead{route="r"}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		calls.Inc()
		in.Add(100)
		out.Add(1000)
		total.Update(0.003)
		backend.Update(0.002)
		overhead.Update(0.001)
	}
}
