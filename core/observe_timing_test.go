package core_test

import (
	"bytes"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// BenchmarkObserveOverhead is the cost of observation on the hot path.
// Three proxies (one loop each) over the same fixed backend:
//
//   - off: events, metrics and the Otoroshi headers all off;
//   - rec: what the loop does: Otoroshi headers both ways, metrics, live
//     stats, and events recorded into the ring and drained by the hub, with
//     no exporter (so nothing is encoded);
//   - file: rec plus a file exporter in a temp dir with Otoroshi's default
//     batching (the hub encodes and writes every event), as cmd/torii runs.
//
// Batches of requests rotate between them in the same run, so that all see
// the same machine noise; each gets b.N requests. Reported per configuration:
// req/s, the process's CPU time per request (client, backend, proxy, hub and
// exporter goroutines: unlike wall time, barely moved by other processes on
// a shared machine) and allocs/req (process-wide); and against off:
// loss_% = 1 - throughput ratio of the median round, cpu_% = extra CPU per
// request.
//
//	go test -run '^$' -bench ObserveOverhead -benchtime 40000x ./core/
func BenchmarkObserveOverhead(b *testing.B) {
	for _, conns := range []int{1, 8} {
		b.Run("conns="+strconv.Itoa(conns), func(b *testing.B) { benchObserve(b, conns) })
	}
}

// benchConfig is one proxy of BenchmarkObserveOverhead and its totals.
type benchConfig struct {
	name    string
	clients []*obsClient
	wall    time.Duration
	cpu     time.Duration
	allocs  uint64
	rounds  []time.Duration
}

func benchObserve(b *testing.B, conns int) {
	be := startFixedBackend(b)
	rec := startObservedWith(b, 1, 0, 0)
	if err := rec.hub.SetExporters(nil); err != nil {
		b.Fatal(err)
	}
	file := startObservedWith(b, 1, 0, 0) // cmd/torii's defaults
	servers := []*core.Server{
		startProxy(b, core.Config{Loops: 1, NoOtoroshiHeadersIn: true, NoOtoroshiHeadersBack: true}, quickRoute(b, be)),
		startProxy(b, rec.config(1), quickRoute(b, be)),
		startProxy(b, file.config(1), quickRoute(b, be)),
	}
	cfgs := []*benchConfig{{name: "off"}, {name: "rec"}, {name: "file"}}
	for i, srv := range servers {
		for range conns {
			c := newObsClient(b, srv.Addr().String())
			for range 200 {
				c.do(b)
			}
			cfgs[i].clients = append(cfgs[i].clients, c)
		}
	}
	const batch = 1000
	var ms runtime.MemStats
	run := func(c *benchConfig, n int) {
		runtime.ReadMemStats(&ms)
		m0 := ms.Mallocs
		c0 := processCPU()
		start := time.Now()
		runBatch(b, c.clients, n)
		d := time.Since(start)
		c.cpu += processCPU() - c0
		c.wall += d
		c.rounds = append(c.rounds, d)
		runtime.ReadMemStats(&ms)
		c.allocs += ms.Mallocs - m0
	}
	b.ResetTimer()
	for done, round := 0, 0; done < b.N; done, round = done+batch, round+1 {
		n := min(batch, b.N-done)
		for k := range cfgs {
			run(cfgs[(round+k)%len(cfgs)], n)
		}
	}
	b.StopTimer()
	off := cfgs[0]
	for _, c := range cfgs {
		b.ReportMetric(float64(b.N)/c.wall.Seconds(), c.name+"_req/s")
		b.ReportMetric(float64(c.cpu.Nanoseconds())/float64(b.N), c.name+"_cpu_ns/req")
		b.ReportMetric(float64(c.allocs)/float64(b.N), c.name+"_allocs/req")
		if c == off {
			continue
		}
		ratios := make([]float64, len(c.rounds))
		for i := range ratios {
			ratios[i] = off.rounds[i].Seconds() / c.rounds[i].Seconds()
		}
		slices.Sort(ratios)
		// The median round is robust to bursts of load from other processes.
		b.ReportMetric(100*(1-ratios[len(ratios)/2]), c.name+"_loss_%")
		b.ReportMetric(100*(c.cpu.Seconds()/off.cpu.Seconds()-1), c.name+"_cpu_%")
	}
	st := file.hub.Stats()
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

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
