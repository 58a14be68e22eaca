// Package sockpair hands connections served on goroutines to the event loops: a Unix socketpair
// (New) whose engine end is enrolled into a loop, and a TLS relay (Relay) between the other end
// and a crypto/tls connection. tlsedge uses it for clients (TLS at the edge), core/upstls for
// backends (TLS targets).
//
// # Caveats
//
// Relay blocks until both directions end; it owns and closes both connections.
package sockpair

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Buffer sizes. inBuf is held by each connection for its whole life (crypto/tls's Read blocks
// in it); outBuf is taken from a pool only while the engine has bytes for the client, so an idle
// connection holds none. outBuf is one full TLS record of plaintext.
const (
	inBuf  = 4 << 10
	outBuf = 16 << 10
)

// writeTimeout bounds a write to the TLS peer: a peer that stops reading (its TCP window
// shut) is cut off after between half of it and all of it (the deadline is moved only when
// half has passed), as nginx's send_timeout does, instead of holding the connection's
// goroutines and buffers forever.
var writeTimeout = 60 * time.Second

var outPool = sync.Pool{New: func() any { b := make([]byte, outBuf); return &b }}

// Relay copies peer→engine (decrypting) and engine→peer (encrypting) until both directions end,
// then closes both connections. tc is the TLS connection (a client at the edge, a backend for a
// TLS target) and ours the relay's end of the pair whose other end the engine holds. It blocks:
// run it on its own goroutine. (Poller relays many connections on one goroutine.)
func Relay(tc *tls.Conn, ours *net.UnixConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		toPeer(tc, ours)
		// The engine closed its end (or the peer is gone): end the TLS connection, which also
		// ends the other direction's Read.
		_ = tc.Close()
	}()
	buf := make([]byte, inBuf)
	for {
		n, err := tc.Read(buf)
		if n > 0 {
			if _, werr := ours.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	// The peer closed or failed: the engine sees end of stream, finishes what it is sending
	// and closes its end, which ends toPeer.
	_ = ours.CloseWrite()
	<-done
	_ = ours.Close()
}

// toPeer copies what the engine writes on ours to the TLS peer. It waits for readability
// without a buffer and takes one from outPool only for the bytes that are there.
func toPeer(tc *tls.Conn, ours *net.UnixConn) {
	rc, err := ours.SyscallConn()
	if err != nil {
		return
	}
	var e engineRead
	fn := e.read // bound once: a closure per read would allocate
	var deadline time.Time
	for {
		err := rc.Read(fn)
		bp, n, rerr := e.bp, e.n, e.err
		e.bp, e.err = nil, nil
		if err != nil || rerr != nil || n <= 0 {
			if bp != nil {
				outPool.Put(bp)
			}
			return
		}
		// The write deadline moves only when less than half of writeTimeout is left: a timer
		// update per response costs about as much as the rest of this loop's user time.
		if now := time.Now(); deadline.Sub(now) < writeTimeout/2 {
			deadline = now.Add(writeTimeout)
			_ = tc.SetWriteDeadline(deadline)
		}
		_, werr := tc.Write((*bp)[:n])
		outPool.Put(bp)
		if werr != nil {
			return
		}
	}
}

// engineRead is toPeer's RawConn callback and its results.
type engineRead struct {
	bp  *[]byte
	n   int
	err error
}

func (e *engineRead) read(fd uintptr) bool {
	e.bp = outPool.Get().(*[]byte)
	for {
		n, err := unix.Read(int(fd), *e.bp)
		switch {
		case err == nil:
			e.n = n
			return true
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			outPool.Put(e.bp)
			e.bp = nil
			return false
		default:
			e.err = err
			return true
		}
	}
}

// New returns the two ends of a new non-blocking Unix stream socketpair: engine, to enroll into
// an event loop (a syscall.Conn), and ours, for the goroutine that relays it.
func New() (engine, ours *net.UnixConn, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create socketpair: %w", err)
	}
	if engine, err = fdConn(fds[0], "engine"); err != nil {
		_ = unix.Close(fds[1])
		return nil, nil, err
	}
	if ours, err = fdConn(fds[1], "relay"); err != nil {
		_ = engine.Close()
		return nil, nil, err
	}
	return engine, ours, nil
}

// fdConn wraps a socket fd as a net.Conn; the fd is owned by the result.
func fdConn(fd int, name string) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), name)
	c, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("cannot wrap socketpair end: %w", err)
	}
	return c.(*net.UnixConn), nil
}
