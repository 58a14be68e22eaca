package core_test

import (
	"bytes"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// BenchmarkObserveOverhead is the cost of observation on the hot path: two
// proxies over the same fixed backend, one with events (a file exporter in a
// temp dir, headers captured), metrics, live stats and the Otoroshi headers
// both ways, one with all of it off. Batches of requests alternate between
// the two in the same run, so that both see the same machine noise; each
// configuration gets b.N requests. Reported: req/s and allocs/req of each
// (allocs/req counts the whole process: the hub's drain and exporter
// goroutines included), and loss_% = 1 - on/off throughput of the median
// round of batch requests.
//
//	go test -run '^$' -bench ObserveOverhead -benchtime 200000x ./core/
func BenchmarkObserveOverhead(b *testing.B) {
	for _, conns := range []int{1, 8} {
		b.Run(map[int]string{1: "conns=1", 8: "conns=8"}[conns], func(b *testing.B) {
			benchObserve(b, conns)
		})
	}
}

func benchObserve(b *testing.B, conns int) {
	be := startFixedBackend(b)
	o := startObserved(b, 1)
	off := startProxy(b, core.Config{Loops: 1, NoOtoroshiHeadersIn: true, NoOtoroshiHeadersBack: true}, quickRoute(b, be))
	onCfg := o.config(1)
	on := startProxy(b, onCfg, quickRoute(b, be))
	newClients := func(srv *core.Server) []*obsClient {
		var cs []*obsClient
		for range conns {
			c := newObsClient(b, srv.Addr().String())
			for range 200 {
				c.do(b)
			}
			cs = append(cs, c)
		}
		return cs
	}
	cOff, cOn := newClients(off), newClients(on)

	const batch = 1000
	var tOff, tOn time.Duration
	var aOff, aOn uint64
	var ratios []float64 // per round: off time / on time, i.e. on/off throughput
	var ms runtime.MemStats
	run := func(cs []*obsClient, n int, t *time.Duration, allocs *uint64) time.Duration {
		runtime.ReadMemStats(&ms)
		m0 := ms.Mallocs
		start := time.Now()
		runBatch(b, cs, n)
		d := time.Since(start)
		*t += d
		runtime.ReadMemStats(&ms)
		*allocs += ms.Mallocs - m0
		return d
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		var dOff, dOn time.Duration
		if (done/batch)%2 == 0 {
			dOff = run(cOff, n, &tOff, &aOff)
			dOn = run(cOn, n, &tOn, &aOn)
		} else {
			dOn = run(cOn, n, &tOn, &aOn)
			dOff = run(cOff, n, &tOff, &aOff)
		}
		ratios = append(ratios, dOff.Seconds()/dOn.Seconds())
	}
	b.StopTimer()
	slices.Sort(ratios)
	rOff := float64(b.N) / tOff.Seconds()
	rOn := float64(b.N) / tOn.Seconds()
	b.ReportMetric(rOff, "off_req/s")
	b.ReportMetric(rOn, "on_req/s")
	// The median round is robust to bursts of load from other processes.
	b.ReportMetric(100*(1-ratios[len(ratios)/2]), "loss_%")
	b.ReportMetric(float64(aOff)/float64(b.N), "off_allocs/req")
	b.ReportMetric(float64(aOn)/float64(b.N), "on_allocs/req")
	st := o.hub.Stats()
	dropped := st.RingDrops
	for _, e := range st.Exporters {
		dropped += e.Dropped
	}
	b.ReportMetric(float64(dropped), "events_dropped")
}

// runBatch sends n requests spread over the clients, one goroutine each.
func runBatch(tb testing.TB, cs []*obsClient, n int) {
	if len(cs) == 1 {
		for range n {
			cs[0].do(tb)
		}
		return
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		k := n / len(cs)
		if i < n%len(cs) {
			k++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range k {
				c.do(tb)
			}
		}()
	}
	wg.Wait()
}

// obsClient is benchClient for responses whose length varies (the Otoroshi
// latency headers): it reads until the body's end, "Hello, World!".
type obsClient struct {
	c   net.Conn
	req []byte
	buf []byte
}

var obsTail = []byte("Hello, World!")

func newObsClient(tb testing.TB, addr string) *obsClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return &obsClient{c: c, buf: make([]byte, 16<<10),
		req: []byte("GET /hello HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: torii-bench\r\n\r\n")}
}

func (oc *obsClient) do(tb testing.TB) {
	if _, err := oc.c.Write(oc.req); err != nil {
		tb.Error(err)
		return
	}
	n := 0
	for n < len(obsTail) || !bytes.Equal(oc.buf[n-len(obsTail):n], obsTail) {
		m, err := oc.c.Read(oc.buf[n:])
		if err != nil {
			tb.Error(err)
			return
		}
		n += m
	}
}
