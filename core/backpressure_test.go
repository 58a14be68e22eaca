package core_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// The two 256 MiB cases of the backpressure requirement: memory per exchange
// must stay bounded when one side is much slower than the other. The bodies
// are generated on the fly and the slow side reads 64 KiB per millisecond.

const (
	hugeBody   = 256 << 20
	slowRead   = 64 << 10
	rssBudget  = 32 << 20
	slowPeriod = time.Millisecond
)

// vmRSS returns this process's resident set size in bytes.
func vmRSS(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmRSS line")
	return 0
}

// rssPeak samples VmRSS every 10 ms until stop is closed and returns the peak.
func rssPeak(t testing.TB, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		peak := vmRSS(t)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
				peak = max(peak, vmRSS(t))
			}
		}
	}()
	return out
}

func pattern() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func TestBackpressureSlowClient(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB transfer")
	}
	chunk := pattern()
	var backendConns atomic.Int32
	be := startRawBackend(t, func(c net.Conn) {
		backendConns.Add(1)
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/small" {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmall")
				continue
			}
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", hugeBody)
			for sent := 0; sent < hugeBody; sent += len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}
	})
	srv := startProxy(t, core.Config{Loops: 1}, testRoute("*", be))
	c := dial(t, srv)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReaderSize(c, slowRead)

	runtime.GC()
	base := vmRSS(t)
	stop := make(chan struct{})
	peak := rssPeak(t, stop)
	_, _ = io.WriteString(c, "GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, slowRead)
	var got int64
	bad := false
	for {
		n, err := io.ReadFull(resp.Body, buf) // len(buf) == len(chunk) divides hugeBody
		if !bytes.Equal(buf[:n], chunk[:n]) {
			bad = true
		}
		got += int64(n)
		if err != nil {
			break
		}
		time.Sleep(slowPeriod)
	}
	close(stop)
	growth := <-peak - base
	t.Logf("RSS base %d MiB, growth %.1f MiB, pumped %d", base>>20, float64(growth)/(1<<20), srv.Stats().Pumped)
	if got != hugeBody || bad {
		t.Fatalf("received %d bytes (corrupt=%v), want %d", got, bad, hugeBody)
	}
	if growth >= rssBudget {
		t.Errorf("RSS grew by %d MiB, budget %d MiB", growth>>20, rssBudget>>20)
	}
	if srv.Stats().Pumped == 0 {
		t.Error("the exchange was never handed to a pump")
	}
	// The client connection came back to the loop after the pump.
	_, body := roundTrip(t, c, br, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if body != "small" {
		t.Errorf("request after the pump: %q", body)
	}
	// ...and so did the backend connection, into the pool.
	if n := backendConns.Load(); n != 1 {
		t.Errorf("%d backend connections, want the pumped one reused", n)
	}
}

func TestBackpressureSlowBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB transfer")
	}
	var received atomic.Int64
	be := startRawBackend(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		br := bufio.NewReaderSize(c, slowRead)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			buf := make([]byte, slowRead)
			var n int64
			for {
				m, err := req.Body.Read(buf)
				n += int64(m)
				if err != nil {
					break
				}
				time.Sleep(slowPeriod)
			}
			received.Store(n)
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d", len(strconv.FormatInt(n, 10)), n)
		}
	})
	srv := startProxy(t, core.Config{Loops: 1}, testRoute("*", be))
	c := dial(t, srv)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(c)

	runtime.GC()
	base := vmRSS(t)
	stop := make(chan struct{})
	peak := rssPeak(t, stop)
	chunk := pattern()
	errc := make(chan error, 1)
	go func() {
		if _, err := fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", hugeBody); err != nil {
			errc <- err
			return
		}
		for sent := 0; sent < hugeBody; sent += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	resp, body := readResponse(t, br, "POST")
	close(stop)
	if err := <-errc; err != nil {
		t.Fatalf("upload: %v (the proxy answered %d %q, received %d)", err, resp.StatusCode, body, received.Load())
	}
	growth := <-peak - base
	t.Logf("RSS base %d MiB, growth %.1f MiB, pumped %d", base>>20, float64(growth)/(1<<20), srv.Stats().Pumped)
	if resp.StatusCode != 200 || body != strconv.Itoa(hugeBody) {
		t.Fatalf("backend answered %d %q, want %d bytes received", resp.StatusCode, body, hugeBody)
	}
	if growth >= rssBudget {
		t.Errorf("RSS grew by %d MiB, budget %d MiB", growth>>20, rssBudget>>20)
	}
	if srv.Stats().Pumped == 0 {
		t.Error("the exchange was never handed to a pump")
	}
	_, body = roundTrip(t, c, br, "POST /again HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", "POST")
	if body != "3" {
		t.Errorf("request after the pump: %q", body)
	}
}

// Chunked bodies through pumps, both ways, with a small high-water mark and
// a slow peer on the receiving side.
func TestPumpChunked(t *testing.T) {
	payload := bytes.Repeat([]byte("chunk-data-"), 8<<20/11)
	t.Run("download", func(t *testing.T) {
		be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for off := 0; off < len(payload); off += 100000 {
				_, _ = w.Write(payload[off:min(off+100000, len(payload))])
				w.(http.Flusher).Flush()
			}
		}))
		srv := startProxy(t, core.Config{HighWater: 64 << 10}, testRoute("*", be))
		c := dial(t, srv)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
		br := bufio.NewReader(c)
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(200 * time.Millisecond) // let the backend outrun us
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, payload) || len(resp.TransferEncoding) == 0 {
			t.Fatalf("got %d bytes (%v, te %v), want %d", len(got), err, resp.TransferEncoding, len(payload))
		}
		if srv.Stats().Pumped == 0 {
			t.Error("no exchange was pumped")
		}
		_, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
		if body != string(payload) {
			t.Errorf("after the pump: %d bytes", len(body))
		}
	})
	t.Run("upload", func(t *testing.T) {
		be := startRawBackend(t, func(c net.Conn) {
			_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				time.Sleep(200 * time.Millisecond) // let the client outrun us
				b, err := io.ReadAll(req.Body)
				if err != nil || !bytes.Equal(b, payload) {
					_, _ = io.WriteString(c, "HTTP/1.1 500 Bad\r\nContent-Length: 0\r\n\r\n")
					continue
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		})
		srv := startProxy(t, core.Config{HighWater: 64 << 10}, testRoute("*", be))
		c := dial(t, srv)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		var req bytes.Buffer
		for range 2 {
			req.WriteString("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
			for off := 0; off < len(payload); off += 30000 {
				end := min(off+30000, len(payload))
				fmt.Fprintf(&req, "%x\r\n%s\r\n", end-off, payload[off:end])
			}
			req.WriteString("0\r\n\r\n")
		}
		go func() { _, _ = c.Write(req.Bytes()) }() // two pipelined uploads
		for i := range 2 {
			resp, body := readResponse(t, br, "POST")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("upload %d: %d %q", i, resp.StatusCode, body)
			}
		}
		if srv.Stats().Pumped == 0 {
			t.Error("no exchange was pumped")
		}
	})
}

// A client that leaves in the middle of a pumped download: both sockets are
// closed and nothing stays counted.
func TestPumpClientLeaves(t *testing.T) {
	backendDone := make(chan error, 1)
	chunk := pattern()
	be := startRawBackend(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			backendDone <- err
			return
		}
		_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 1<<30)
		for {
			if _, err := c.Write(chunk); err != nil {
				backendDone <- err
				return
			}
		}
	})
	srv := startProxy(t, core.Config{HighWater: 64 << 10}, testRoute("*", be))
	c := dial(t, srv)
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	if _, err := io.ReadFull(c, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	select {
	case err := <-backendDone:
		if err == nil {
			t.Error("backend finished writing 1 GiB")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the backend connection was not closed after the client left")
	}
	waitFor(t, func() bool { return srv.Stats().Conns == 0 }, "no client connection left")
	if srv.Stats().Pumped == 0 {
		t.Error("the download was not pumped")
	}
}
