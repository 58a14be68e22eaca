package core_test

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
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
