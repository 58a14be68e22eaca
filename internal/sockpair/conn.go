package sockpair

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is a TCP connection for crypto/tls that a Poller can take over once the handshake is
// done (detach): from then on it reads and writes the descriptor itself and never blocks.
//
// Read then also skips the read that would fail with EAGAIN after each record. Go's Read tries
// the socket first and waits for readiness only when that fails, so a request/response
// connection pays two reads per message: the one that gets it and one that finds nothing.
// When Conn's last read came back short (fewer bytes than asked for: the socket was empty
// then), it reports "would block" without a system call and the Poller waits for the next
// edge of its edge-triggered epoll: bytes that arrive after the short read raise one. The
// peer's end of stream may come in the same edge as its last bytes, so once the epoll has
// reported a hang-up (hup) every read is tried.
//
// Before detach (the handshake) Conn reads and writes like the conn it wraps.
type Conn struct {
	net.Conn
	rc      syscall.RawConn // nil: the conn exposes no descriptor and cannot be detached
	fd      int             // the duplicated descriptor, once detached
	drained bool            // the last read came back short
	hup     bool            // the epoll reported the peer's hang-up: read until end of stream

	// Set by detach: fd is a duplicate outside the runtime's poller, Write never blocks (what
	// the socket does not take waits in out), Close closes fd.
	polled       bool
	out          []byte
	werr         error
	closed       bool
	laddr, raddr net.Addr

	// Set by Feed: an event loop owns the socket and drives the record layer (see Feed).
	fed  bool
	feed Feeder

	// The record framing of what Read returned before it was polled (the handshake): a
	// partial record header (hdr[:hdrN]) or the bytes of a record's body not returned yet
	// (left). See Framing.
	hdr  [5]byte
	hdrN int
	left int
}

// Feeder is what an event loop gives a fed Conn: the bytes it read from the socket (Read,
// InboundBuffered) and the socket's outbound side (Write, which never blocks: what the socket
// does not take waits in the loop's buffer). A gnet.Conn is one, inside its loop.
type Feeder interface {
	InboundBuffered() int
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
}

// Feed hands c to an event loop after the handshake: from then on Read takes the ciphertext
// the loop read (and reports "would block", a temporary net.Error crypto/tls keeps its state
// across, when there is none), Write gives ciphertext to the loop's outbound buffer, deadlines
// do nothing and Close does nothing (the loop closes the socket). No system call either way.
// Call it on the loop, before the first Read or Write there; the descriptor c wraps must no
// longer be used (the loop has its own duplicate).
func (c *Conn) Feed(f Feeder) {
	c.laddr, c.raddr = c.Conn.LocalAddr(), c.Conn.RemoteAddr()
	c.feed, c.fed, c.polled = f, true, true
}

// Wrap returns c wrapped for a Poller.
func Wrap(c net.Conn) *Conn {
	w := &Conn{Conn: c, fd: -1}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			w.rc = rc
		}
	}
	return w
}

// errWouldBlock is Conn.Read's answer, once detached, when the socket has nothing. It is a temporary
// net.Error: crypto/tls keeps a partial record and its state after it, as after a read
// deadline, and the next Read goes on from there.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

// IsWouldBlock reports whether err is a fed or polled Conn's "would block", as returned
// unwrapped by crypto/tls's Read.
func IsWouldBlock(err error) bool { return err == errWouldBlock }

func (wouldBlock) Error() string   { return "sockpair: read would block" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

// Read reads what the socket holds into p. See Conn.
func (c *Conn) Read(p []byte) (int, error) {
	if !c.polled {
		n, err := c.Conn.Read(p)
		c.track(p[:max(n, 0)])
		return n, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.fed {
		if c.feed.InboundBuffered() == 0 {
			return 0, errWouldBlock
		}
		return c.feed.Read(p)
	}
	if c.drained && !c.hup {
		c.drained = false
		return 0, errWouldBlock
	}
	for {
		n, err := unix.Read(c.fd, p)
		switch {
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			c.drained = n < len(p)
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return 0, errWouldBlock
		default:
			return 0, c.opError("read", err)
		}
	}
}

// track follows the TLS record framing of b, the next bytes Read returns.
func (c *Conn) track(b []byte) {
	for len(b) > 0 {
		if c.left > 0 {
			k := min(len(b), c.left)
			c.left -= k
			b = b[k:]
			continue
		}
		k := copy(c.hdr[c.hdrN:], b)
		c.hdrN += k
		b = b[k:]
		if c.hdrN == len(c.hdr) {
			c.left = int(c.hdr[3])<<8 | int(c.hdr[4])
			c.hdrN = 0
		}
	}
}

// Framing says where the TLS record framing of what Read returned so far stands: hdr is the
// start of a record header (nil when none is partly read) and left the bytes of the current
// record's body not returned yet. crypto/tls may read past the handshake's last record, and
// what it holds then is unknown to the caller; a loop taking over after the handshake (Feed)
// resumes the framing from here. hdr is valid until the next Read.
func (c *Conn) Framing() (hdr []byte, left int) {
	if c.hdrN > 0 {
		hdr = c.hdr[:c.hdrN]
	}
	return hdr, c.left
}

// Write writes p; once polled it never blocks: what the socket does not take now is kept and
// sent by flush, and the first failure is returned by every later Write.
func (c *Conn) Write(p []byte) (int, error) {
	if !c.polled {
		return c.Conn.Write(p)
	}
	if c.fed {
		return c.feed.Write(p)
	}
	if c.werr != nil {
		return 0, c.werr
	}
	if len(c.out) > 0 {
		c.out = append(c.out, p...)
		return len(p), nil
	}
	n, err := writeSome(c.fd, p)
	if err != nil {
		c.werr = c.opError("write", err)
		return n, c.werr
	}
	if n < len(p) {
		c.out = append(c.out, p[n:]...)
	}
	return len(p), nil
}

// flush sends what Write kept; it reports whether everything went.
func (c *Conn) flush() (bool, error) {
	if c.werr != nil {
		return false, c.werr
	}
	n, err := writeSome(c.fd, c.out)
	if err != nil {
		c.werr = c.opError("write", err)
		return false, c.werr
	}
	if n < len(c.out) {
		c.out = c.out[:copy(c.out, c.out[n:])]
		return false, nil
	}
	c.out = nil // a stalled client's buffer goes with its stall
	return true, nil
}

// writeSome writes what fd takes now of p; EAGAIN is not an error.
func writeSome(fd int, p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(fd, p[done:])
		switch {
		case err == nil:
			done += n
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			return done, nil
		default:
			return done, err
		}
	}
	return done, nil
}

// detach makes c polled: it duplicates the descriptor and closes the runtime's one, so that
// only the Poller's epoll watches the socket.
func (c *Conn) detach() error {
	if c.rc == nil {
		return errors.New("sockpair: connection has no descriptor")
	}
	var nfd int
	var derr error
	if err := c.rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return fmt.Errorf("cannot duplicate TLS connection: %w", err)
	}
	if derr != nil {
		return fmt.Errorf("cannot duplicate TLS connection: %w", derr)
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		_ = unix.Close(nfd)
		return fmt.Errorf("cannot duplicate TLS connection: %w", err)
	}
	c.laddr, c.raddr = c.Conn.LocalAddr(), c.Conn.RemoteAddr()
	_ = c.Conn.Close() // the socket stays open through nfd
	c.fd, c.drained, c.polled = nfd, false, true
	return nil
}

// Close closes the connection (once polled: its descriptor).
func (c *Conn) Close() error {
	if !c.polled {
		return c.Conn.Close()
	}
	if c.closed {
		return net.ErrClosed
	}
	c.closed = true
	if c.fed {
		return nil
	}
	return unix.Close(c.fd)
}

// LocalAddr and RemoteAddr stay valid once polled.
func (c *Conn) LocalAddr() net.Addr {
	if c.polled {
		return c.laddr
	}
	return c.Conn.LocalAddr()
}

func (c *Conn) RemoteAddr() net.Addr {
	if c.polled {
		return c.raddr
	}
	return c.Conn.RemoteAddr()
}

// SetDeadline, SetReadDeadline and SetWriteDeadline do nothing once polled: the Poller times
// out a stalled write itself (writeTimeout), and nothing waits on reads.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.polled {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.polled {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.polled {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *Conn) opError(op string, err error) error {
	la := c.LocalAddr()
	netw := ""
	if la != nil {
		netw = la.Network()
	}
	return &net.OpError{Op: op, Net: netw, Source: la, Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, err)}
}
