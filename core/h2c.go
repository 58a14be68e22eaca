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

// sniffLine is how much of a request line sniffPreface peeks to tell HTTP/1.x.
const sniffLine = 4096

// sniffH2C decides, on its own goroutine, whether the new connection c speaks HTTP/2 with
// prior knowledge: its first bytes are peeked (MSG_PEEK, nothing consumed) until they match the
// preface or differ from it; HTTP/2 is served by the loops (HTTP2Config.H2C) or by Config.H2C on
// this goroutine, HTTP/1.x is registered on a loop as usual with every byte still in the
// socket. Bytes that differ from the preface must then make an HTTP/1.x request line (ending in
// " HTTP/1.0" or " HTTP/1.1", or too long to tell, which the loop answers): anything else is
// neither protocol, a failed HTTP/2 preface (RFC 9113 §3.4), and the connection is closed. An
// HTTP/1.x client sends its request line in its first segment, so it waits for no more than
// that. The peek is bounded by HeaderTimeout; a client that sends nothing in time is registered
// (the loop's own head timeout answers it).
func (a *acceptor) sniffH2C(s *Server, c *net.TCPConn) {
	h2, garbage := sniffPreface(c, s.cfg.HeaderTimeout)
	if garbage {
		// Read what was sent first: closing with unread bytes would reset the
		// connection instead of ending it.
		var buf [sniffLine]byte
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Read(buf[:])
		_ = c.Close()
		return
	}
	if h2 && s.cfg.H2C != nil && !s.h2cfg.Load().H2C {
		s.cfg.H2C(c) // package h2edge, on this goroutine
		return
	}
	var ctx any // HTTP/1.x: a plain client
	if h2 {
		// Served on the loops (h2conn.go), the preface still in the socket
		// (also when h2c was turned off since the accept).
		info := &ClientInfo{ALPN: alpnH2}
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			info.Addr = ta.AddrPort()
		}
		ctx = &h2Enrolled{info: info}
	}
	res, err := s.register(c, ctx)
	if err != nil {
		return
	}
	// Waited for here, not handed to collect: this goroutine is not one
	// that stop waits for, and a.results may be closed by now.
	if r := <-res; r.Err != nil {
		a.stall.Store(true)
		a.refused(s, r.Err)
	}
}

// sniffPreface reports whether c's pending bytes start with the HTTP/2 preface (h2), or are
// neither the preface nor an HTTP/1.x request line (garbage), waiting up to timeout for enough of
// them.
func sniffPreface(c *net.TCPConn, timeout time.Duration) (h2, garbage bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false, false
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var buf [sniffLine]byte
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK)
			return !errors.Is(rerr, syscall.EAGAIN)
		})
		if err != nil || rerr != nil || n == 0 {
			return false, false // timeout, error or EOF: the loop handles (and closes) it
		}
		p := min(n, len(h2cPreface))
		if !bytes.Equal([]byte(h2cPreface)[:p], buf[:p]) {
			if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
				line := bytes.TrimSuffix(buf[:i], []byte("\r"))
				return false, !bytes.HasSuffix(line, []byte(" HTTP/1.1")) && !bytes.HasSuffix(line, []byte(" HTTP/1.0"))
			}
			if n == len(buf) {
				return false, false // too long to tell: the loop's parser answers it
			}
			time.Sleep(time.Millisecond) // the rest of the request line
			continue
		}
		if n >= len(h2cPreface) {
			return true, false
		}
		// A prefix of the preface: the socket stays readable, so wait a little for the rest
		// instead of spinning on the same bytes.
		time.Sleep(time.Millisecond)
	}
}
