package core_test

import (
	"bufio"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// fullBacklogListener returns the address of a socket listening with a
// backlog of 0 that never accepts, after filling its queue, so that a new
// connect hangs in SYN-SENT.
func fullBacklogListener(t *testing.T) (string, func()) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	var fillers []net.Conn
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		fillers = append(fillers, c)
	}
	return addr, func() {
		for _, c := range fillers {
			_ = c.Close()
		}
		_ = syscall.Close(fd)
	}
}

// Connecting to a listener whose accept queue is full hangs: the connect
// timeout answers 504.
func TestConnectTimeout(t *testing.T) {
	addr, cleanup := fullBacklogListener(t)
	defer cleanup()
	rt := testRoute("*", addr)
	rt.Backend.Client.ConnectionTimeout = 300
	srv := startProxy(t, core.Config{}, rt)
	c := dial(t, srv)
	start := time.Now()
	resp, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	checkError(t, resp, body, 504, "errors.request.timeout")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("connect timeout took %v", d)
	}
}
