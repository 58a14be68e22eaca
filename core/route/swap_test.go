package route

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentSwap publishes new tables while several goroutines route requests through
// whichever table they loaded, as event loops do: no request may fail to match or to find
// a target, and in-flight counts must return to zero.
func TestConcurrentSwap(t *testing.T) {
	reg := NewRegistry()
	table := func(gen int) *Table {
		// Every generation keeps target "keep" and replaces target "gen".
		js := fmt.Sprintf(`[{"id":"r","frontend":{"domains":["a.com"]},"backend":{"load_balancing":{"type":"LeastConnections"},"targets":[
		 {"id":"keep","hostname":"127.0.0.1","port":1000},
		 {"id":"gen%d","hostname":"127.0.0.1","port":%d}]}}]`, gen, 2000+gen)
		return mustCompile(t, js, CompileOptions{Registry: reg})
	}
	var cur atomic.Pointer[Table]
	cur.Store(table(0))
	req, buf := request("GET", "a.com", "/x")
	var failures atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var held []*Upstream
	var heldMu sync.Mutex
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tab := cur.Load() // once per request
				c := tab.Match(req, buf)
				if c == nil {
					failures.Add(1)
					continue
				}
				u, _ := c.Pick(&PickInput{Req: req, Buf: buf})
				if u == nil {
					failures.Add(1)
					continue
				}
				u.Acquire()
				c.Report(u, true, time.Microsecond)
				if w == 0 && i%1000 == 0 {
					heldMu.Lock()
					held = append(held, u) // released after the swaps: long requests
					heldMu.Unlock()
					continue
				}
				u.Release()
			}
		}()
	}
	for gen := 1; gen <= 20; gen++ {
		next := table(gen)
		cur.Store(next)
		reg.Prune(next)
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d requests failed during swaps", n)
	}
	for _, u := range held {
		u.Release()
	}
	for _, u := range cur.Load().Route("r").Upstreams() {
		if n := u.State().InFlight(); n != 0 {
			t.Fatalf("target %s: %d in flight after every request ended", u.ID, n)
		}
	}
	if reg.Len() != 2 {
		t.Fatalf("registry holds %d states, want the 2 targets of the last table", reg.Len())
	}
}
