package tlsedge

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
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

// writeTimeout bounds one write to the client: a client that stops reading (its TCP window
// shut) is cut off after it, as nginx's send_timeout does, instead of holding the connection's
// goroutines and buffers forever.
const writeTimeout = 60 * time.Second

var outPool = sync.Pool{New: func() any { b := make([]byte, outBuf); return &b }}

// relay copies client→engine (decrypting) and engine→client (encrypting) until both directions
// end, then closes both connections.
func relay(tc *tls.Conn, ours *net.UnixConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		toClient(tc, ours)
		// The engine closed its end (or the client is gone): end the client connection, which
		// also ends the other direction's Read.
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
	// The client closed or failed: the engine sees end of stream, finishes what it is sending
	// and closes its end, which ends toClient.
	_ = ours.CloseWrite()
	<-done
	_ = ours.Close()
}

// toClient copies what the engine writes on ours to the client. It waits for readability
// without a buffer and takes one from outPool only for the bytes that are there.
func toClient(tc *tls.Conn, ours *net.UnixConn) {
	rc, err := ours.SyscallConn()
	if err != nil {
		return
	}
	for {
		var bp *[]byte
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			bp = outPool.Get().(*[]byte)
			n, rerr = unix.Read(int(fd), *bp)
			if errors.Is(rerr, syscall.EAGAIN) {
				outPool.Put(bp)
				bp = nil
				return false
			}
			return true
		})
		if err != nil || rerr != nil || n <= 0 {
			if bp != nil {
				outPool.Put(bp)
			}
			return
		}
		_ = tc.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, werr := tc.Write((*bp)[:n])
		outPool.Put(bp)
		if werr != nil {
			return
		}
	}
}
