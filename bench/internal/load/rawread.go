package load

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// rawConn drives one TCP connection through its syscall.RawConn so that a
// request/response exchange costs one write and one read system call: the
// write happens inside the read's callback, and the callback then reports
// "not ready" instead of trying a read that would almost surely fail with
// EAGAIN, so the goroutine parks on the poller until the answer arrives.
// net.Conn.Write followed by net.Conn.Read costs a third, failing read.
//
// Writing inside the callback matters: the runtime clears the socket's
// stale readiness before it first calls the callback, so an answer to a
// request written after that point always produces a fresh wake-up. (Writing
// first and skipping the first read attempt would lose an answer that
// arrives between the write and that reset.) Deadlines set on the net.Conn
// apply.
type rawConn struct {
	conn     net.Conn
	rc       syscall.RawConn
	fn       func(fd uintptr) bool // r.callback, bound once so Read does not allocate
	out      []byte                // request bytes to write at the next Read
	partial  bool                  // out was partly written; finish with conn.Write
	deadline time.Time             // for that blocking write
	werr     error
	p        []byte
	n        int
	err      error
}

// writeError marks a failure to send a request, as opposed to reading its answer.
type writeError struct{ err error }

func (e *writeError) Error() string { return "cannot write request: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func newRawConn(c net.Conn) (*rawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("load: connection has no raw file descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &rawConn{conn: c, rc: rc}
	r.fn = r.callback
	return r, nil
}

// callback runs with the socket's read lock held: first the pending write,
// then reads.
func (r *rawConn) callback(fd uintptr) bool {
	if r.out != nil {
		n, err := ignoreEINTR(func() (int, error) { return syscall.Write(int(fd), r.out) })
		if err == syscall.EAGAIN {
			n, err = 0, nil
		}
		switch {
		case err != nil:
			r.werr, r.out = err, nil
			return true
		case n < len(r.out):
			r.out, r.partial = r.out[n:], true
			return true
		}
		r.out = nil
		return false // the answer cannot be there yet: wait for it
	}
	n, err := ignoreEINTR(func() (int, error) { return syscall.Read(int(fd), r.p) })
	switch {
	case err == syscall.EAGAIN:
		return false
	case err != nil:
		r.n, r.err = 0, err
	case n == 0:
		r.n, r.err = 0, io.EOF
	default:
		r.n, r.err = n, nil
	}
	return true
}

func ignoreEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// Read implements io.Reader, sending the pending request first if any.
func (r *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p = p
	defer func() { r.p = nil }()
	for {
		if err := r.rc.Read(r.fn); err != nil {
			if r.out != nil { // the write itself never happened
				r.out = nil
				return 0, &writeError{err}
			}
			return 0, err
		}
		if r.werr != nil {
			err := r.werr
			r.werr = nil
			return 0, &writeError{err}
		}
		if r.partial {
			out := r.out
			r.out, r.partial = nil, false
			if err := r.conn.SetWriteDeadline(r.deadline); err != nil {
				return 0, &writeError{err}
			}
			if _, err := r.conn.Write(out); err != nil {
				return 0, &writeError{err}
			}
			continue
		}
		return r.n, r.err
	}
}
