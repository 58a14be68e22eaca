package tlsedge

// The measurements behind the design (docs/ARCHITECTURE.md, "TLS at the edge"): what a
// handshake costs, and what the socketpair hop to the event loops costs per request and per idle
// connection compared with answering on the TLS goroutine itself.
//
//	go test ./tlsedge -run XXX -bench . -benchtime 2s
//	go test ./tlsedge -run TestIdleMemory -v -count=1 -idle-mem socketpair (then goroutine)

import (
	"bytes"
	"crypto/tls"
	"flag"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/torii-gateway/torii/proxyproto"
)

var idleMem = flag.String("idle-mem", "", "run TestIdleMemory for one design, socketpair or goroutine (opens 1000 TLS connections);\n"+
	"one design per process, so that stacks freed by one run do not hide the other's")

const smallResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// answer serves minimal keep-alive exchanges on c: it reads until a blank line and writes a
// fixed response, like the loop would for a cached small GET. skipProxy drops a leading PROXY
// v2 header first.
func answer(c net.Conn, skipProxy bool) {
	buf := make([]byte, 4096)
	var have []byte
	for {
		n, err := c.Read(buf)
		have = append(have, buf[:n]...)
		if skipProxy {
			var h proxyproto.Header
			if m, perr := proxyproto.Parse(have, &h); perr == nil {
				have = have[m:]
				skipProxy = false
			}
		}
		for !skipProxy {
			i := bytes.Index(have, []byte("\r\n\r\n"))
			if i < 0 {
				break
			}
			have = have[i+4:]
			if _, err := io.WriteString(c, smallResponse); err != nil {
				return
			}
		}
		if err != nil {
			_ = c.Close()
			return
		}
	}
}

// benchServer starts a TLS endpoint: through the Server and its socketpair hop (relay true), or
// answering on the handshake goroutine itself (the alternative design).
func benchServer(b testing.TB, relay bool) (addr string, roots *tls.Config) {
	p := newPKI(b, "bench CA")
	c := p.cert(b, "a", "a.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	if relay {
		s, err := New(Config{Enroll: func(nc net.Conn) error { go answer(nc, true); return nil },
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		s.SetTable(NewTable([]Cert{c}, TableOptions{}))
		ctx, cancel := contextWithCancel()
		go func() { _ = s.Serve(ctx, ln); close(done) }()
		b.Cleanup(func() { cancel(); <-done })
	} else {
		cfg := &tls.Config{Certificates: []tls.Certificate{*c.Pair}, NextProtos: []string{"http/1.1"}}
		go func() {
			defer close(done)
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					tc := tls.Server(nc, cfg)
					if tc.Handshake() != nil {
						_ = nc.Close()
						return
					}
					answer(tc, false)
				}()
			}
		}()
		b.Cleanup(func() { _ = ln.Close(); <-done })
	}
	return ln.Addr().String(), &tls.Config{ServerName: "a.test", RootCAs: p.roots}
}

func benchKeepAlive(b *testing.B, relay bool) {
	addr, cfg := benchServer(b, relay)
	tc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer tc.Close()
	req := []byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp := make([]byte, len(smallResponse))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tc.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(tc, resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeepAliveSocketpair is one small keep-alive exchange through the chosen design.
func BenchmarkKeepAliveSocketpair(b *testing.B) { benchKeepAlive(b, true) }

// BenchmarkKeepAliveGoroutine is the same exchange answered on the TLS goroutine (baseline).
func BenchmarkKeepAliveGoroutine(b *testing.B) { benchKeepAlive(b, false) }

func benchNewConn(b *testing.B, relay, resume bool) {
	addr, cfg := benchServer(b, relay)
	if resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	}
	req := []byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp := make([]byte, len(smallResponse))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tc, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tc.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(tc, resp); err != nil {
			b.Fatal(err)
		}
		_ = tc.Close()
	}
}

// BenchmarkNewConnSocketpair is a new connection (full ECDSA P-256 handshake, client side
// included) and one request, through the chosen design.
func BenchmarkNewConnSocketpair(b *testing.B) { benchNewConn(b, true, false) }

// BenchmarkNewConnGoroutine is the same answered on the TLS goroutine (baseline).
func BenchmarkNewConnGoroutine(b *testing.B) { benchNewConn(b, false, false) }

// BenchmarkResumedConnSocketpair is a new connection resumed from a session ticket.
func BenchmarkResumedConnSocketpair(b *testing.B) { benchNewConn(b, true, true) }

// TestIdleMemory reports the heap and stacks held per idle TLS connection (after one exchange)
// in both designs. Clients and servers share the process, so the figure counts both sides; the
// client side is the same in both runs, so the difference is the cost of the design.
func TestIdleMemory(t *testing.T) {
	if *idleMem == "" {
		t.Skip("-idle-mem not set")
	}
	const n = 1000
	measure := func(open func() []net.Conn) float64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := open()
		time.Sleep(200 * time.Millisecond)
		runtime.GC() // twice: sync.Pool keeps a victim generation across one GC
		runtime.GC()
		runtime.ReadMemStats(&after)
		for _, c := range conns {
			_ = c.Close()
		}
		t.Logf("heap %.1f KiB, stacks %.1f KiB per connection", float64(after.HeapInuse-before.HeapInuse)/n/1024,
			float64(after.StackInuse-before.StackInuse)/n/1024)
		return float64((after.HeapInuse+after.StackInuse)-(before.HeapInuse+before.StackInuse)) / n
	}
	for _, relay := range []bool{*idleMem == "socketpair"} {
		addr, cfg := benchServer(t, relay)
		per := measure(func() []net.Conn {
			var out []net.Conn
			for i := 0; i < n; i++ {
				tc, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					t.Fatal(err)
				}
				roundTripRaw(t, tc)
				out = append(out, tc)
			}
			return out
		})
		t.Logf("relay=%v: %.1f KiB per idle connection (client and server sides together)", relay, per/1024)
	}
}

func roundTripRaw(t *testing.T, tc *tls.Conn) {
	if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, len(smallResponse))
	if _, err := io.ReadFull(tc, resp); err != nil {
		t.Fatal(err)
	}
}
