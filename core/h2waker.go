package core

import (
	"context"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/torii-gateway/torii/internal/sockpair"
)

// The end of a loop's batch of events, for HTTP/2 writes. gnet's loop runs
// one callback per ready socket of an epoll_wait and has no hook after the
// last one; a loop's waker stands in for it. It is one end of a Unix
// socketpair registered into the loop as a gnet connection of its own (its
// context a *loopWaker: never a client, not counted in Stats.Conns or
// against MaxConns, refused by nothing), the other end a bare descriptor
// the loop writes one byte to. Frames queued for an HTTP/2 connection in a
// backend's callback, while another of its streams still waits for its
// response, are not written at the end of that callback: the connection
// goes on the loop's later list and the waker is armed (one byte, once per
// round). The byte makes the waker's socket readable; epoll reports it
// after the sockets that were ready before it, so its OnTraffic runs after
// the responses that came in the same batch and writes each connection on
// the list once: one write (one TLS record) for all the streams answered
// meanwhile, instead of one per stream. A connection whose last waiting
// stream is answered is written at the end of that callback, with whatever
// was deferred: a lone request in flight keeps its latency and pays no
// wake-up. Arming costs a write and the waker's OnTraffic a read, per
// round and loop, not per connection.
//
// Until the waker is registered (it is created with the loop's first
// HTTP/2 connection), and if its socket fails, frames are written at the
// end of each backend callback as before. The engine's stop closes it like
// any gnet connection; its OnClose writes what was deferred.

// wakerState is where a loop's waker is in its life.
type wakerState uint8

const (
	wakerNone     wakerState = iota // not created: no HTTP/2 connection yet
	wakerStarting                   // enrolled, OnOpen not run yet
	wakerReady                      // registered: arm may defer writes
	wakerDead                       // failed or closed: writes are not deferred
)

// loopWaker is a loop's waker (see above). Touched only on its loop.
type loopWaker struct {
	lp    *loop
	c     gnet.Conn // the loop's end, from OnOpen to OnClose
	fd    int       // our end, written to by arm; -1 when none
	state wakerState
	armed bool // a byte is on its way: OnTraffic will run
}

// h2WaitMax is the most frames (bytes) a connection defers to the waker:
// past a TLS record's worth a write is not small, and a big response's
// DATA is not held back.
const h2WaitMax = 16 << 10

// wakeByte is what arm writes.
var wakeByte = []byte{1}

// startWaker creates the loop's waker, once. On the loop.
func (lp *loop) startWaker() {
	w := &lp.waker
	if w.state != wakerNone {
		return
	}
	w.lp, w.fd, w.state = lp, -1, wakerDead
	engine, ours, err := sockpair.NewRaw()
	if err != nil {
		lp.s.log.Debug("cannot create HTTP/2 waker", "err", err)
		return
	}
	ch, err := lp.el.Enroll(gnet.NewContext(context.Background(), w), engine)
	if err != nil {
		_ = engine.Close()
		_ = unix.Close(ours)
		lp.s.log.Debug("cannot register HTTP/2 waker", "err", err)
		return
	}
	w.fd, w.state = ours, wakerStarting
	go func() {
		// gnet closes engine once it has its duplicate; a failure comes
		// back here, before OnOpen could run.
		if res := <-ch; res.Err != nil {
			_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				w.closed()
				return nil
			}))
		}
	}()
}

// opened is the waker's OnOpen.
func (w *loopWaker) opened(c gnet.Conn) {
	if w.state != wakerStarting {
		return
	}
	w.c, w.state = c, wakerReady
}

// arm makes the waker's OnTraffic run after the loop's current batch of
// events; it reports false when it cannot (the caller writes at once).
func (w *loopWaker) arm() bool {
	if w.state != wakerReady {
		return false
	}
	if w.armed {
		return true
	}
	for {
		_, err := unix.Write(w.fd, wakeByte)
		switch err {
		case nil, unix.EAGAIN: // EAGAIN: bytes wait unread, OnTraffic comes anyway
			w.armed = true
			return true
		case unix.EINTR:
			continue
		}
		w.lp.s.log.Debug("HTTP/2 waker failed, writing at once from now on", "err", err)
		w.state = wakerDead
		return false
	}
}

// traffic is the waker's OnTraffic: the end of a round, the deferred
// connections are written.
func (w *loopWaker) traffic(c gnet.Conn) gnet.Action {
	_, _ = c.Discard(-1)
	w.armed = false
	w.lp.flushLater()
	return gnet.None
}

// closed is the waker's OnClose (or its registration failed): nothing is
// deferred from now on, and what was is written now.
func (w *loopWaker) closed() {
	if w.fd >= 0 {
		_ = unix.Close(w.fd)
		w.fd = -1
	}
	w.c, w.state, w.armed = nil, wakerDead, false
	w.lp.flushLater()
}

// deferH2 puts hc on the later list when its frames may wait for the end
// of the batch (mayWait) and the waker is armed; false: write now.
func (lp *loop) deferH2(hc *h2conn) bool {
	if !hc.mayWait() || !lp.waker.arm() {
		return false
	}
	if !hc.deferred {
		hc.deferred = true
		lp.h2later = append(lp.h2later, hc)
	}
	return true
}

// mayWait reports whether hc's queued frames may wait for the waker: another
// stream's response may come in the same batch (a stream is still being
// answered), the frames are few, and the socket takes writes (with bytes
// already waiting in gnet's outbound buffer, a write is no system call).
func (hc *h2conn) mayWait() bool {
	if hc.closed || hc.goingAway || len(hc.out) == 0 || len(hc.out) > h2WaitMax || hc.c.OutboundBuffered() > 0 {
		return false
	}
	for _, st := range hc.streams {
		if st.cc != nil && st.rs != rsDone && !st.reset {
			return true
		}
	}
	return false
}

// flushLater writes the connections deferred to the waker. Outside any
// callback: a failed write closes its connection at once (gnet runs OnClose
// inside Write), which may defer more connections; they are written too.
func (lp *loop) flushLater() {
	for i := 0; i < len(lp.h2later); i++ {
		hc := lp.h2later[i]
		lp.h2later[i] = nil
		hc.deferred = false
		hc.flushNow()
	}
	lp.h2later = lp.h2later[:0]
}
