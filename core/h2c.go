package core

import (
	"bytes"
	"errors"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// h2cPreface is the HTTP/2 client connection preface (RFC 9113 §3.4).
const h2cPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffH2C decides, on its own goroutine, whether the new connection c speaks HTTP/2 with
// prior knowledge: its first bytes are peeked (MSG_PEEK, nothing consumed) until they match the
// preface or differ from it; HTTP/2 is served by Config.H2C on this goroutine, anything else is
// registered on a loop as usual with every byte still in the socket. A request method differs
// from "PRI" by its first or second byte, so an HTTP/1.x client waits for no more than what it
// sent first. The peek is bounded by HeaderTimeout; a client that sends nothing in time is
// registered (the loop's own head timeout answers it).
func (a *acceptor) sniffH2C(s *Server, c *net.TCPConn) {
	if sniffPreface(c, s.cfg.HeaderTimeout) {
		if s.cfg.HTTP2.H2C {
			// Served on the loops (h2conn.go), the preface still in the socket.
			info := &ClientInfo{ALPN: alpnH2}
			if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
				info.Addr = a.AddrPort()
			}
			res, err := s.register(c, &h2Enrolled{info: info})
			if err == nil {
				a.results <- res
			}
			return
		}
		s.cfg.H2C(c)
		return
	}
	res, err := s.register(c, nil)
	if err != nil {
		return
	}
	a.results <- res
}

// sniffPreface reports whether c's pending bytes start with the HTTP/2 preface, waiting up to
// timeout for enough of them.
func sniffPreface(c *net.TCPConn, timeout time.Duration) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var buf [len(h2cPreface)]byte
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK)
			return !errors.Is(rerr, syscall.EAGAIN)
		})
		if err != nil || rerr != nil || n == 0 {
			return false // timeout, error or EOF: the loop handles (and closes) it
		}
		if !bytes.HasPrefix([]byte(h2cPreface), buf[:n]) {
			return false
		}
		if n == len(h2cPreface) {
			return true
		}
		// A prefix of the preface: the socket stays readable, so wait a little for the rest
		// instead of spinning on the same bytes.
		time.Sleep(time.Millisecond)
	}
}
