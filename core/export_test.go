package core

import (
	"context"

	"github.com/panjf2000/gnet/v2"
)

// What the external tests (package core_test) may reach inside the engine.

// onLoops runs fn on every event loop of s, one after the other, and waits
// for each; it reports false when a loop took no task (the engine stopped).
func (s *Server) onLoops(fn func(lp *loop)) bool {
	for _, lp := range *s.loopList.Load() {
		done := make(chan struct{})
		err := lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			fn(lp)
			close(done)
			return nil
		}))
		if err != nil {
			return false
		}
		<-done
	}
	return true
}

// WakersReadyForTest reports whether there are loops and every one has a
// registered HTTP/2 waker (h2waker.go).
func (s *Server) WakersReadyForTest() bool {
	ready := len(*s.loopList.Load()) > 0
	ok := s.onLoops(func(lp *loop) { ready = ready && lp.waker.state == wakerReady })
	return ok && ready
}

// StallLoopsForTest blocks every event loop in a task until release is
// called: what the sockets receive meanwhile is reported by the loop's next
// epoll_wait, in one batch.
func (s *Server) StallLoopsForTest() (release func()) {
	stop := make(chan struct{})
	for _, lp := range *s.loopList.Load() {
		stalled := make(chan struct{})
		err := lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			close(stalled)
			<-stop
			return nil
		}))
		if err == nil {
			<-stalled
		}
	}
	return func() { close(stop) }
}

// CloseWakersForTest closes every loop's HTTP/2 waker as a failed socket
// would be: its OnClose runs, and writes are not deferred from then on.
func (s *Server) CloseWakersForTest() {
	s.onLoops(func(lp *loop) {
		if c := lp.waker.c; c != nil {
			_ = lp.el.Close(c)
		}
	})
}

// UpstreamsFreedTwiceForTest counts the backend connections that are twice on
// a loop's lists of retired ones (retired, then free for reuse): freed twice,
// one would later serve two exchanges at once.
func (s *Server) UpstreamsFreedTwiceForTest() int {
	n := 0
	s.onLoops(func(lp *loop) {
		seen := make(map[*upstreamConn]bool)
		for _, list := range [][]*upstreamConn{lp.deadUps, lp.freeUps} {
			for _, us := range list {
				if seen[us] {
					n++
				}
				seen[us] = true
			}
		}
	})
	return n
}

// TLSBufCapsForTest returns the capacity of every loop's shared TLS
// plaintext buffer (tlsloop.go, decryptTLS).
func (s *Server) TLSBufCapsForTest() []int {
	var caps []int
	s.onLoops(func(lp *loop) { caps = append(caps, cap(lp.tlsBuf)) })
	return caps
}
