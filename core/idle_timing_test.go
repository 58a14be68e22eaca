package core_test

import (
	"bytes"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// The memory an idle keep-alive client connection holds in the proxy's
// process: Go heap objects plus goroutine stacks, after a GC, with
// idleConns connections open that each served one request, minus the same
// figure before they were opened, divided by idleConns. Reported as the
// custom metric B/idle-conn (ns/op is the cost of one round and says
// nothing):
//
//	go test -run '^$' -bench IdleConnMemory -benchtime 3x ./core/
//
// The client side uses raw socket descriptors (no net.Conn, no goroutine),
// so it adds 8 bytes per connection to the figure. Each round starts a
// fresh server; the servers of earlier rounds idle until the benchmark ends. Kernel memory (socket
// buffers, epoll entries) is not counted; bench/compare measures the RSS of
// the real binary. The baseline is net/http's Server, with its goroutine and
// buffered reader per connection, in the same run.

const idleConns = 2000

func BenchmarkIdleConnMemory(b *testing.B) {
	raiseNofile(b, 3*idleConns+1024)
	backend := startFixedBackend(b)
	b.Run("torii", func(b *testing.B) {
		measureIdle(b, func() string {
			return startProxy(b, core.Config{Loops: 1}, testRoute("idle.test", backend)).Addr().String()
		})
	})
	// Events and metrics on, as `torii serve` runs: an exchange fills an
	// event record, which must not stay with the idle connection either.
	b.Run("torii-events", func(b *testing.B) {
		measureIdle(b, func() string {
			o := startObservedWith(b, 1, 0, 0)
			cfg := o.config(1)
			return startProxy(b, cfg, testRoute("idle.test", backend)).Addr().String()
		})
	})
	b.Run("net-http", func(b *testing.B) {
		measureIdle(b, func() string {
			return startBackend(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("Hello, World!"))
			}))
		})
	})
}

// measureIdle starts a fresh server with start each round (so that no free
// list filled by an earlier round hides the cost), sends it one request on a
// connection it then closes (upstream pools, lazy state), and reports the
// process's heap and stack growth per connection while idleConns keep-alive
// connections that each served one GET stay open.
func measureIdle(b *testing.B, start func() string) {
	req := []byte("GET / HTTP/1.1\r\nHost: idle.test\r\n\r\n")
	buf := make([]byte, 4096)
	fds := make([]int, 0, idleConns)
	var perConn float64
	for range b.N {
		ap, err := net.ResolveTCPAddr("tcp", start())
		if err != nil {
			b.Fatal(err)
		}
		sa := &syscall.SockaddrInet4{Port: ap.Port}
		copy(sa.Addr[:], ap.IP.To4())
		fd, err := idleRequest(sa, req, buf)
		if err != nil {
			b.Fatalf("warm-up request: %v", err)
		}
		_ = syscall.Close(fd)
		before := liveBytes()
		for range idleConns {
			fd, err := idleRequest(sa, req, buf)
			if err != nil {
				closeAll(fds)
				b.Fatalf("connection %d: %v", len(fds), err)
			}
			fds = append(fds, fd)
		}
		perConn += (float64(liveBytes()) - float64(before)) / idleConns
		closeAll(fds)
		fds = fds[:0]
	}
	b.ReportMetric(perConn/float64(b.N), "B/idle-conn")
}

// idleRequest connects to sa, sends req and reads until the end of a
// response head with a 13-byte body (both servers answer "Hello, World!").
func idleRequest(sa syscall.Sockaddr, req, buf []byte) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tv := syscall.Timeval{Sec: 5}
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	if err = syscall.Connect(fd, sa); err == nil {
		_, err = syscall.Write(fd, req)
	}
	got := 0
	for err == nil {
		n, rerr := syscall.Read(fd, buf[got:])
		switch {
		case rerr == syscall.EINTR:
			continue
		case rerr != nil:
			err = rerr
			continue
		case n == 0:
			err = syscall.ECONNRESET
			continue
		}
		got += n
		if i := bytes.Index(buf[:got], []byte("\r\n\r\n")); i >= 0 && got >= i+4+13 {
			return fd, nil
		}
		if got == len(buf) {
			err = syscall.EMSGSIZE
		}
	}
	_ = syscall.Close(fd)
	return -1, err
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
}

// liveBytes is the live heap plus goroutine stacks after two GCs (the
// second frees what the first one's finalizers released).
func liveBytes() uint64 {
	time.Sleep(50 * time.Millisecond) // let the servers finish their callbacks
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// raiseNofile lifts the open-file limit to n when it is lower (both ends
// of every connection live in this process).
func raiseNofile(tb testing.TB, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= n {
		return
	}
	lim.Cur = min(n, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < n {
		tb.Skipf("cannot raise the open-file limit to %d (have %d): %v", n, lim.Cur, err)
	}
}
