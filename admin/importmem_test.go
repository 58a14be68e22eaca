package admin

import (
	"bytes"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkImportPhasesHeap breaks the heap of a streamed import of 100k keys down by phase:
// read (stream, validate, encode, the routes and keys staged in bbolt as they come), staged (the
// other kinds), compiled (the snapshot's keys, read back from staging). It
// reports the live heap after each phase (MiB, after a GC) and the highest HeapInuse seen during
// it (sampled every 20 ms). Run: go test -run '^$' -bench ImportPhasesHeap -benchtime 1x ./admin/
func BenchmarkImportPhasesHeap(b *testing.B) {
	raw := genExport(1, 100000, -1)
	e := newBenchEnv(b, nil)
	for b.Loop() {
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var ms runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}()
		var base uint64
		mark := func(name string) {
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if name == "" {
				base = ms.HeapAlloc
			} else {
				b.ReportMetric(float64(ms.HeapAlloc-base)/(1<<20), name+"-live-MiB")
				b.ReportMetric(float64(peak.Load()-base)/(1<<20), name+"-peak-MiB")
			}
			peak.Store(0)
		}
		mark("")
		sg, err := e.s.newStager()
		if err != nil {
			b.Fatal(err)
		}
		st, _, err := readImport(bytes.NewReader(raw), DefaultMaxImportEntities, sg)
		if err != nil {
			b.Fatal(err)
		}
		mark("read")
		if _, err := sg.finish(st); err != nil {
			b.Fatal(err)
		}
		mark("staged")
		c, err := e.s.compiler.compile(st, 9)
		if err != nil {
			b.Fatal(err)
		}
		mark("compiled")
		close(stop)
		<-done
		runtime.KeepAlive(c)
		runtime.KeepAlive(st)
		if err := e.s.dropStaging(); err != nil {
			b.Fatal(err)
		}
	}
}
