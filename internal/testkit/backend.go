package testkit

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Backend serves h on a free loopback port until the test ends and returns its "host:port".
func Backend(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot listen for a test backend: %v", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TextBackend is a Backend that answers every request 200 with body.
func TextBackend(t testing.TB, body string) string {
	t.Helper()
	return Backend(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
}

// Run runs run (a server's Run method) on its own goroutine until the test ends, and returns
// once ready (its "listener bound" channel) is closed. It fails the test if run returns first
// or nothing is ready within 5 s. At cleanup it cancels run's context and waits up to 10 s for
// run to return; what names the server in failures.
func Run(t testing.TB, what string, run func(context.Context) error, ready <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("%s did not start: %v", what, err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatalf("%s did not start within 5s", what)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop within 10s", what)
		}
	})
}

// RefusedAddr returns a loopback "host:port" that refuses connections until the test ends: a
// socket bound to the port but not listening keeps it reserved. (A listener closed at once
// would free the port for another test's listener, which would then accept what should have
// been refused.)
func RefusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("cannot open a socket: %v", err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("cannot bind a loopback port: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("cannot read the bound port: %v", err)
	}
	return "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
}

// ServeUDP answers each datagram on pc with answer's result (nothing when nil) until pc is
// closed; it closes pc when the test ends. It is how tests run a fake DNS server.
func ServeUDP(t testing.TB, pc net.PacketConn, answer func(q []byte) []byte) {
	t.Helper()
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := answer(buf[:n]); out != nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
}

// FreePort returns a loopback TCP port that was free a moment ago, for a server that must be
// told its port before it starts (or restart on the same one).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
