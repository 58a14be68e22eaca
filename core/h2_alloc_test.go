//go:build !race

package core_test

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/h2"
)

// h2BenchClient speaks HTTP/2 with prior knowledge frame by frame from
// preallocated buffers: it allocates nothing per request, so what a test
// counts is the engine's (and the fixed backend's, which allocates nothing).
type h2BenchClient struct {
	c      net.Conn
	id     uint32
	block  []byte
	out    []byte
	buf    []byte
	n      int
	credit uint32
}

func newH2BenchClient(tb testing.TB, addr string) *h2BenchClient {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	return newH2BenchClientOn(tb, c)
}

// newH2BenchClientOn is newH2BenchClient over c (a TLS connection whose ALPN chose h2, say);
// c is closed when the test ends.
func newH2BenchClientOn(tb testing.TB, c net.Conn) *h2BenchClient {
	tb.Helper()
	tb.Cleanup(func() { _ = c.Close() })
	hc := &h2BenchClient{c: c, id: 1, out: make([]byte, 0, 1024), buf: make([]byte, 64<<10)}
	// :method GET, :scheme http, :path / (static), :authority bench.test (literal, not indexed).
	hc.block = append([]byte{0x82, 0x86, 0x84, 0x01, 10}, "bench.test"...)
	o := append(hc.out[:0], h2.Preface...)
	o = h2.AppendFrameHeader(o, 0, h2.FrameSettings, 0, 0)
	if _, err := c.Write(o); err != nil {
		tb.Fatal(err)
	}
	return hc
}

// do sends one GET and reads frames until its stream ends; it reports the
// response's DATA bytes.
func (hc *h2BenchClient) do(tb testing.TB) int { return hc.doMany(tb, 1) }

// doMany sends k GETs in one write (k concurrent streams) and reads frames
// until they all ended; it reports the responses' DATA bytes.
func (hc *h2BenchClient) doMany(tb testing.TB, k int) int {
	o := hc.out[:0]
	if hc.credit > 0 {
		o = h2.AppendWindowUpdate(o, 0, hc.credit)
		hc.credit = 0
	}
	id := hc.id
	for range k {
		o = h2.AppendFrameHeader(o, len(hc.block), h2.FrameHeaders, h2.FlagEndHeaders|h2.FlagEndStream, hc.id)
		o = append(o, hc.block...)
		hc.id += 2
	}
	hc.out = o
	_ = hc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := hc.c.Write(o); err != nil {
		tb.Fatal(err)
	}
	data := 0
	for {
		for hc.n >= h2.FrameHeaderLen {
			fh := h2.ParseFrameHeader(hc.buf)
			size := h2.FrameHeaderLen + int(fh.Length)
			if hc.n < size {
				break
			}
			switch fh.Type {
			case h2.FrameData:
				hc.credit += fh.Length
				data += int(fh.Length)
			case h2.FrameSettings:
				if fh.Flags&h2.FlagAck == 0 {
					_, _ = hc.c.Write(h2.AppendFrameHeader(hc.out[:0], 0, h2.FrameSettings, h2.FlagAck, 0))
				}
			case h2.FrameRSTStream, h2.FrameGoAway:
				tb.Fatalf("stream %d: frame type %d, code %d", id, fh.Type, binary.BigEndian.Uint32(hc.buf[h2.FrameHeaderLen:]))
			}
			end := fh.StreamID >= id && fh.Flags&h2.FlagEndStream != 0 && (fh.Type == h2.FrameData || fh.Type == h2.FrameHeaders)
			copy(hc.buf, hc.buf[size:hc.n])
			hc.n -= size
			if end {
				if k--; k == 0 {
					return data
				}
			}
		}
		m, err := hc.c.Read(hc.buf[hc.n:])
		if err != nil {
			tb.Fatalf("reading stream %d: %v", id, err)
		}
		hc.n += m
	}
}

func startH2Proxy(tb testing.TB) (*core.Server, *h2BenchClient) {
	be := startFixedBackend(tb)
	srv := startProxy(tb, core.Config{Loops: 1, HTTP2: core.HTTP2Config{Enabled: true, H2C: true}}, quickRoute(tb, be))
	hc := newH2BenchClient(tb, srv.Addr().String())
	if n := hc.do(tb); n != len("Hello, World!") {
		tb.Fatalf("first response: %d data bytes", n)
	}
	return srv, hc
}

// TestProxyH2GetAllocs: a proxied small GET over HTTP/2 (one stream after the other on one
// connection, the engine's own HTTP/2 server) allocates nothing in steady state, like the
// HTTP/1.1 path. Process-wide count; client and backend allocate nothing.
func TestProxyH2GetAllocs(t *testing.T) {
	_, hc := startH2Proxy(t)
	for range 2000 {
		hc.do(t)
	}
	n := testing.AllocsPerRun(5000, func() { hc.do(t) })
	t.Logf("%.2f allocations per HTTP/2 request", n)
	if n != 0 {
		t.Errorf("%v allocations per proxied HTTP/2 request, want 0", n)
	}
}

// TestProxyH2ConcurrentAllocs: 8 concurrent streams on one connection, whose
// responses come back on 8 backend connections, some of them written by
// the loop's waker (h2waker.go), allocate nothing either.
func TestProxyH2ConcurrentAllocs(t *testing.T) {
	srv, hc := startH2Proxy(t)
	for range 500 {
		hc.doMany(t, 8)
	}
	w0 := srv.HTTP2Stats().Writes
	n := testing.AllocsPerRun(1000, func() { hc.doMany(t, 8) })
	t.Logf("%.2f allocations per 8 concurrent HTTP/2 requests; %.2f writes", n, float64(srv.HTTP2Stats().Writes-w0)/1001)
	if n != 0 {
		t.Errorf("%v allocations per 8 concurrent proxied HTTP/2 requests, want 0", n)
	}
}

// BenchmarkProxyH2Get is BenchmarkProxyGet over HTTP/2 (h2c, one stream at a time).
//
//	go test ./core -run XXX -bench 'ProxyH2Get|ProxyGet$' -benchmem
func BenchmarkProxyH2Get(b *testing.B) {
	_, hc := startH2Proxy(b)
	b.ReportAllocs()
	for b.Loop() {
		hc.do(b)
	}
}
