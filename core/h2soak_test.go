package core_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/h2"
)

// The frame-level soak of the HTTP/2 server: random frame scripts (h2Script) on many
// connections, over h2c (TestH2FuzzSoak) and over TLS on the loop's record layer
// (TestH2FuzzSoakTLS), both run by h2FuzzSoak.

// h2Soak is what a variant of the soak drives.
type h2Soak struct {
	srv *core.Server
	nb  *h2Neighbour
	// run sends script on a fresh connection; rnd may pick what the variant varies (records,
	// how the connection ends). It must not return before the connection is closed.
	run func(t *testing.T, script []byte, rnd func() byte)
	// links, if not nil, counts the client connections the front end handed to srv and srv has
	// not yet said are over (EnrollTLS's done).
	links func() int64
}

// goroutineSlack is how many more goroutines than at the start the soak lets the process
// have at its end: gnet's pool keeps idle workers for 10 s, the engine's upstream pool keeps
// idle backend connections (a backend goroutine each), the neighbour's client may have
// redialled (a read loop). Each about 8 after a long soak; a goroutine left by one fuzzed
// connection in a hundred would be 20 after make test's 2000.
const goroutineSlack = 32

// h2FuzzSoak sends random frame scripts on many connections for a bounded time and count
// (3 s or 2000 connections; TORII_H2SOAK=10m for longer, as make soak-h2 does), then checks
// that the server is alive, serves a neighbour, has closed every fuzzed connection (every
// count back to the neighbour's, none ever negative), that no goroutine was left behind and
// that the heap came back near where it started.
func h2FuzzSoak(t *testing.T, s h2Soak) {
	srv := s.srv
	s.nb.check(t)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before, goroutines := heap(), runtime.NumGoroutine()
	seed := uint64(1)
	rnd := func() byte { // xorshift: the same scripts every run
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return byte(seed)
	}
	dur, limit := 3*time.Second, 2000
	if d, err := time.ParseDuration(os.Getenv("TORII_H2SOAK")); err == nil {
		dur, limit = d, 1<<30
	}
	counts := func(when string) {
		t.Helper()
		if c, o := srv.Stats().Conns, srv.HTTP2Stats().OpenStreams; c < 0 || o < 0 {
			t.Fatalf("negative counts %s: %d client connections, %d open streams", when, c, o)
		}
		if s.links != nil && s.links() < 1 {
			t.Fatalf("%d TLS connections on the loops %s, with the neighbour's open", s.links(), when)
		}
	}
	deadline := time.Now().Add(dur)
	n := 0
	// Frames of the kinds h2Script knows, with plausible flags, stream ids and lengths: mostly
	// requests with bodies, trailers, resets, window and settings changes, a few of anything.
	kinds := []byte{16, 16, 17, 17, 18, 19, 0, 0, 0, 3, 8, 8, 4, 6, 2, 9, 1, 7, 12}
	for ; n < limit && time.Now().Before(deadline); n++ {
		var script []byte
		sid := byte(1)
		for range 1 + int(rnd())%24 {
			kind := kinds[int(rnd())%len(kinds)]
			flags := rnd() & (h2.FlagEndStream | h2.FlagEndHeaders | h2.FlagPadded | h2.FlagPriority)
			if kind >= 16 {
				flags = h2.FlagEndHeaders | rnd()&h2.FlagEndStream
				if kind != 19 && rnd() < 200 {
					sid += 2 * (rnd() % 2)
				}
			}
			size := []byte{0, 4, 5, 6, 8, 20}[int(rnd())%6]
			if kind == 0 {
				size = rnd()
			}
			script = append(script, kind, flags, sid, size)
			for range size {
				script = append(script, rnd())
			}
		}
		s.run(t, h2Script(script), rnd)
		if n%50 == 0 {
			s.nb.check(t)
			counts("after " + time.Since(deadline.Add(-dur)).Round(time.Millisecond).String())
			if h := heap(); h > before+64<<20 {
				t.Fatalf("heap in use %d MiB after %d connections, %d MiB before", h>>20, n, before>>20)
			}
		}
	}
	s.nb.check(t)
	// Every fuzzed connection closes (the neighbour's stays), and with it every stream: the
	// client connections counted are the HTTP/2 ones, the TLS ones the neighbour's.
	settled := func() bool {
		st := srv.HTTP2Stats()
		return st.Conns <= 1 && st.OpenStreams == 0 && srv.Stats().Conns == st.Conns &&
			(s.links == nil || s.links() == 1) && runtime.NumGoroutine() <= goroutines+goroutineSlack
	}
	start := time.Now()
	for wait := start.Add(10 * time.Second); !settled() && time.Now().Before(wait); {
		time.Sleep(50 * time.Millisecond)
	}
	counts("after the soak")
	st := srv.HTTP2Stats()
	if st.Conns > 1 {
		t.Errorf("%d HTTP/2 connections still open after the soak", st.Conns)
	}
	if c := srv.Stats().Conns; c != st.Conns || st.OpenStreams != 0 {
		t.Errorf("after the soak: %d client connections for %d HTTP/2 ones, %d open streams; want as many, and 0", c, st.Conns, st.OpenStreams)
	}
	if s.links != nil && s.links() != 1 {
		t.Errorf("after the soak: %d TLS connections on the loops, want the neighbour's only", s.links())
	}
	if g := runtime.NumGoroutine(); g > goroutines+goroutineSlack {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the soak, %d before:\n%s", g, goroutines, buf[:runtime.Stack(buf, true)])
	}
	after := heap()
	if after > before+64<<20 {
		t.Errorf("heap in use %d MiB after %d connections, %d MiB before", after>>20, n, before>>20)
	}
	t.Logf("%d fuzzed connections, %d streams, %d client connections at the end, errors %v; heap in use %d -> %d KiB; goroutines %d -> %d",
		n, st.Streams, srv.Stats().Conns, st.Errors, before>>10, after>>10, goroutines, runtime.NumGoroutine())
}

// h2SoakHighWater is the engine's HighWater in the soak: a large response to a stream whose
// window the script does not open is held off the loop (h2hold.go).
const h2SoakHighWater = 4 << 10

// startSoakBackend answers every request head (serveFixed: a body's bytes are not skipped, a
// response may come before them) with the 64 KiB largeResponse on two backend connections in
// three, with benchResponse on the others.
func startSoakBackend(t testing.TB) string {
	var n atomic.Int64
	return startRawBackend(t, func(c net.Conn) {
		resp := largeResponse
		if n.Add(1)%3 == 0 {
			resp = []byte(benchResponse)
		}
		serveFixed(c, resp)
	})
}

// TestH2FuzzSoak is the soak over h2c (prior knowledge).
func TestH2FuzzSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	srv := startProxy(t, core.Config{Loops: 2, HighWater: h2SoakHighWater, HTTP2: core.HTTP2Config{Enabled: true, H2C: true}}, quickRoute(t, startSoakBackend(t)))
	addr := srv.Addr().String()
	h2FuzzSoak(t, h2Soak{
		srv: srv,
		nb:  &h2Neighbour{cl: h2cClient(addr), base: "http://" + addr},
		run: func(t *testing.T, script []byte, _ func() byte) { runScript(t, addr, script, 50*time.Millisecond) },
	})
}

// TestH2FuzzSoakTLS is the soak over TLS with ALPN h2, served on the loops' record layer as
// tlsedge's relay "loop" has it (EnrollTLS), some connections ending abruptly (runTLSScript).
func TestH2FuzzSoakTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	srv := startProxy(t, core.Config{Loops: 2, HighWater: h2SoakHighWater, HTTP2: core.HTTP2Config{Enabled: true}}, quickRoute(t, startSoakBackend(t)))
	addr, links := startTLSLoopLinks(t, srv, []string{"h2", "http/1.1"})
	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}}
	t.Cleanup(tr.CloseIdleConnections)
	h2FuzzSoak(t, h2Soak{
		srv: srv,
		nb:  &h2Neighbour{cl: &http.Client{Timeout: 10 * time.Second, Transport: tr}, base: "https://bench.test"},
		run: func(t *testing.T, script []byte, rnd func() byte) {
			runTLSScript(t, addr, script, 50*time.Millisecond, rnd)
		},
		links: links.Load,
	})
}

// How runTLSScript ends a connection, picked by rnd()%tlsEndings: the first four abruptly
// part-way through the script, the others after the whole script, with close_notify.
const (
	tlsEndCloseNotify = iota // close_notify (CloseWrite), then read until the server closes
	tlsEndTCPClose           // the TCP connection closed, no close_notify
	tlsEndTruncated          // an application-data record header, part of its body, then a TCP half-close
	tlsEndGarbage            // a record that does not decrypt or does not parse, on the socket
	tlsEndings        = 8
)

// runTLSScript is runScript over TLS with ALPN h2: after the handshake, the script goes through
// the tls.Conn in records of random sizes (frames straddle records), and one connection in two
// ends abruptly part-way in a TLS way (tlsEnd...). It reads until the PING's ACK, the server
// closes the connection or wait passes.
func runTLSScript(t *testing.T, addr string, script []byte, wait time.Duration, rnd func() byte) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v (is the server alive?)", err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	defer c.Close() // close_notify, unless a write is still blocked (then the socket only)
	if err := c.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v (is the server alive?)", err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	_ = raw.SetDeadline(time.Now().Add(wait))
	script = h2.AppendPing(script, false, pingDone)
	end, cut := int(rnd()%tlsEndings), len(script)
	if end < tlsEndings/2 {
		cut = int(rnd()) * len(script) / 256
	}
	// The sizes of the records, and the abrupt end's bytes, are drawn here: rnd is the test's.
	var records []int
	for sum := 0; sum < cut; {
		k := min(cut-sum, 1+int(rnd())*(1+int(rnd()%32)))
		records = append(records, k)
		sum += k
	}
	var tail []byte
	switch end {
	case tlsEndTruncated:
		// Application data (23), TLS 1.2 on the wire, up to 16 KiB announced; less sent.
		size := 1 + int(rnd())<<6
		tail = []byte{23, 3, 3, byte(size >> 8), byte(size)}
		for range int(rnd()) % size {
			tail = append(tail, rnd())
		}
	case tlsEndGarbage:
		size := 1 + int(rnd())
		tail = []byte{23, 3, 3, byte(size >> 8), byte(size)}
		if rnd()%2 == 0 {
			tail[0], tail[1] = rnd(), rnd() // a record type or version that is none
		}
		for range size {
			tail = append(tail, rnd())
		}
	}
	go func() {
		p := script
		for _, k := range records {
			if _, err := c.Write(p[:k]); err != nil {
				return
			}
			p = p[k:]
		}
		switch end {
		case tlsEndCloseNotify:
			_ = c.CloseWrite()
		case tlsEndTCPClose:
			_ = raw.Close()
		case tlsEndTruncated:
			_, _ = raw.Write(tail)
			_ = raw.(*net.TCPConn).CloseWrite()
		case tlsEndGarbage:
			_, _ = raw.Write(tail)
		}
	}()
	readUntilAck(c)
}
