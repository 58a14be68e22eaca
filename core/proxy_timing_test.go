package core_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
)

// Proxied small GETs with keep-alive, over loopback, between a backend and a
// client that do not allocate themselves, so that the heap allocations
// counted are the proxy's. Run with at least 100k requests:
//
//	go test -run '^$' -bench 'Proxy' -benchtime 100000x -benchmem ./core/
//
// BenchmarkBaselineReverseProxy is net/http/httputil.ReverseProxy in the same
// setup.

const benchResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"

// startFixedBackend answers every request head (no bodies) with benchResponse,
// without allocating per request.
func startFixedBackend(tb testing.TB) string { return startFixedBackendWith(tb, []byte(benchResponse)) }

// largeResponse is a 64 KiB response for the throughput benchmarks; its body
// ends with benchTail.
var largeResponse = func() []byte {
	body := append(bytes.Repeat([]byte("0123456789abcdef"), 4<<10-1), "0123456789<END>\n"...)
	return append([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(body))), body...)
}()

const largeBody = 64 << 10

// startFixedBackendWith answers every request head (no bodies) with resp.
func startFixedBackendWith(tb testing.TB, resp []byte) string {
	return startRawBackend(tb, func(c net.Conn) { serveFixed(c, resp) })
}

// serveFixed answers every request head read from c with resp.
func serveFixed(c net.Conn, resp []byte) {
	{
		_ = c.SetDeadline(time.Time{})
		buf := make([]byte, 16<<10)
		matched := 0 // bytes of "\r\n\r\n" matched so far, across reads
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			reqs := 0
			for _, ch := range buf[:n] {
				switch {
				case ch == "\r\n\r\n"[matched]:
					matched++
					if matched == 4 {
						reqs++
						matched = 0
					}
				case ch == '\r':
					matched = 1
				default:
					matched = 0
				}
			}
			for range reqs {
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}
	}
}

// benchClient sends req and reads a response of exactly respLen bytes, with
// no allocation per request.
type benchClient struct {
	c       net.Conn
	req     []byte
	buf     []byte
	respLen int
	tail    []byte
}

func newBenchClient(tb testing.TB, addr string) *benchClient {
	return newBenchClientTail(tb, addr, "Hello, World!")
}

// newBenchClientTail is newBenchClient for a response whose body ends with tail.
func newBenchClientTail(tb testing.TB, addr, tail string) *benchClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	bc := &benchClient{c: c, tail: []byte(tail), req: []byte("GET /hello HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: torii-bench\r\n\r\n")}
	// Learn the length of the proxied response once.
	if _, err := c.Write(bc.req); err != nil {
		tb.Fatal(err)
	}
	bc.buf = make([]byte, 256<<10)
	n := 0
	for !bytes.HasSuffix(bc.buf[:n], []byte(tail)) {
		m, err := c.Read(bc.buf[n:])
		if err != nil {
			tb.Fatal(err)
		}
		n += m
	}
	bc.respLen = n
	return bc
}

// do sends one request and reads its response: all but the last 8 of the
// respLen bytes seen the first time at once, then until the body's tail, as
// the length can vary by a few bytes (the Otoroshi latency headers).
func (bc *benchClient) do(tb testing.TB) {
	if _, err := bc.c.Write(bc.req); err != nil {
		tb.Fatal(err)
	}
	n, err := io.ReadFull(bc.c, bc.buf[:bc.respLen-8])
	for err == nil && !bytes.HasSuffix(bc.buf[:n], bc.tail) {
		var m int
		m, err = bc.c.Read(bc.buf[n:])
		n += m
	}
	if err != nil {
		tb.Fatal(err)
	}
}

func reportAllocsPerReq(b *testing.B, run func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	run()
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/req")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "B/req")
}

// sendRequests warms the proxy up with warm requests from bc, then sends
// b.N of them, timed, with the allocations per request reported.
func sendRequests(b *testing.B, bc *benchClient, warm int) {
	for range warm {
		bc.do(b)
	}
	b.ReportAllocs()
	reportAllocsPerReq(b, func() {
		for range b.N {
			bc.do(b)
		}
	})
}

// quickRoute is quick mode's catch-all route to the targets, as
// "torii proxy --to" builds it.
func quickRoute(tb testing.TB, targets ...string) route.Route {
	tb.Helper()
	var urls []string
	for _, t := range targets {
		urls = append(urls, "http://"+t)
	}
	r, err := core.QuickRoute(urls)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func BenchmarkProxyGet(b *testing.B) {
	be := startFixedBackend(b)
	srv := startProxy(b, core.Config{Loops: 1}, quickRoute(b, be))
	bc := newBenchClient(b, srv.Addr().String())
	sendRequests(b, bc, 1000)
}

// BenchmarkProxyGetAPIKey is BenchmarkProxyGet on a route that requires an
// API key, presented as an Otoroshi bearer token: extraction, constant-time
// check, quota counting, credential removal and the quota headers. Compare
// its ns/op and allocs/req with BenchmarkProxyGet in the same run.
func BenchmarkProxyGetAPIKey(b *testing.B) {
	be := startFixedBackend(b)
	q := quota.New(quota.Options{})
	srv := startProxy(b, core.Config{Loops: 1, Quotas: q})
	publishKeys(b, srv, q, 2, []apikey.ApiKey{testKey("abc", "s3cr3t")}, nil, keyRoute("bench.test", "", "", be))
	bc := newBenchClientFor(b, srv.Addr().String(), "GET /hello HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: torii-bench\r\n"+
		"Authorization: Bearer "+apikey.BearerToken("abc", "s3cr3t")+"\r\n\r\n")
	sendRequests(b, bc, 1000)
}

func BenchmarkProxyGetParallel(b *testing.B) {
	be := startFixedBackend(b)
	srv := startProxy(b, core.Config{Loops: 2}, quickRoute(b, be))
	clients := make(chan *benchClient, 64)
	for range 16 {
		bc := newBenchClient(b, srv.Addr().String())
		for range 100 {
			bc.do(b)
		}
		clients <- bc
	}
	b.ReportAllocs()
	b.SetParallelism(4)
	reportAllocsPerReq(b, func() {
		b.RunParallel(func(pb *testing.PB) {
			bc := <-clients
			for pb.Next() {
				bc.do(b)
			}
			clients <- bc
		})
	})
}

// BenchmarkBaselineReverseProxy is the standard library's reverse proxy in
// the same setup, as the baseline.
func BenchmarkBaselineReverseProxy(b *testing.B) {
	be := startFixedBackend(b)
	u, _ := url.Parse("http://" + be)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	addr := startBackend(b, rp)
	bc := newBenchClient(b, addr)
	sendRequests(b, bc, 1000)
}

// BenchmarkProxyLarge proxies 64 KiB responses (throughput, MB/s).
func BenchmarkProxyLarge(b *testing.B) {
	be := startFixedBackendWith(b, largeResponse)
	srv := startProxy(b, core.Config{Loops: 1}, quickRoute(b, be))
	bc := newBenchClientTail(b, srv.Addr().String(), "<END>\n")
	b.SetBytes(largeBody)
	sendRequests(b, bc, 100)
}

// BenchmarkBaselineReverseProxyLarge is BenchmarkProxyLarge through
// net/http/httputil.ReverseProxy.
func BenchmarkBaselineReverseProxyLarge(b *testing.B) {
	be := startFixedBackendWith(b, largeResponse)
	u, _ := url.Parse("http://" + be)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	bc := newBenchClientTail(b, startBackend(b, rp), "<END>\n")
	b.SetBytes(largeBody)
	sendRequests(b, bc, 100)
}
