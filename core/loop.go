package core

import (
	"context"
	"github.com/torii-gateway/torii/core/plugin"
	"net"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/h2up"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/core/upstls"
	"github.com/torii-gateway/torii/httpparse"
)

// loop is the state one event loop owns: its timing wheel, its upstream
// pools, free lists of connection structs and scratch buffers. Everything in
// it is touched only on that loop's goroutine, except tickQueued; no lock is
// taken on the request path.
type loop struct {
	s  *Server
	el gnet.EventLoop

	wheel      wheel
	tickQueued atomic.Bool

	pools       pools // idle upstream connections per target (pool.go)
	freeClients []*clientConn
	freeUps     []*upstreamConn
	// Structs of connections closed since the last tick. They are recycled
	// only at the tick: a close can run nested inside another connection's
	// callback (gnet closes a connection inside a failed Write), and the
	// struct must not be reused before that callback is over.
	deadClients []*clientConn
	deadUps     []*upstreamConn

	// cur is the connection whose callback is running; closing it is done by
	// returning gnet.Close rather than by a re-entrant close.
	cur      gnet.Conn
	closeCur bool

	// flushWait holds client connections waiting for their outbound buffer
	// to drain (to close, or to be handed to a pump); checked every tick.
	flushWait  []*clientConn
	flushSpare []*clientConn

	clients     *clientConn // sentinel of the list of this loop's client connections
	idleScratch []*clientConn

	scratch []byte // a response head or chunk frame being built; dead after the Write

	// req and reqHdr hold the request head being parsed, whose spans die at
	// its Discard within one callback; freeHeads and freeRecords the
	// rewritten request-head buffers and event records of no exchange: none
	// stays with an idle client connection (idle.go).
	req         httpparse.Request
	reqHdr      [maxHeaders]httpparse.Header
	freeHeads   [][]byte
	freeRecords []*event.Record

	// HTTP/2 (h2conn.go): stream structs to reuse, the response head being
	// translated and its HPACK block.
	freeStreams []*h2stream
	h2conns     map[*h2conn]struct{}
	h2batch     bool      // a backend's callback runs: HTTP/2 frames wait for its end
	h2dirty     []*h2conn // connections with frames to write at that end
	h2later     []*h2conn // connections the waker writes (h2waker.go)
	waker       loopWaker
	h2resp      httpparse.Response
	h2respHdr   [maxHeaders]httpparse.Header
	h2blk       []byte

	// TLS clients served on the loop (tlsloop.go): those written to during
	// a backend's callback, and those whose backpressure the tick checks.
	tlsDirty, tlsWatch, tlsSpare []*tlsLink
	tlsBuf                       []byte // plaintext being decrypted (tlsLink.in during serveTLS)
	cipher                       []byte // records of one flush being gathered (sealTLS)

	heads headScratch // timestamp cache, error page buffer (head.go)
	// plugCtx is the context handed to route plugins (plugins.go).
	plugCtx plugin.Ctx
	obs     loopObs    // ring, request ids, pool statistics (observe.go)
	pol     loopPolicy // API-key scratch, tracking ids, pool sweeping (policy.go)
}

// maxFree bounds each free list; extra structs are left to the GC.
const maxFree = 4096

func newLoop(s *Server, el gnet.EventLoop) *loop {
	lp := &loop{
		s:       s,
		el:      el,
		scratch: make([]byte, 0, 4096),
	}
	lp.pools.init()
	lp.wheel.init(int64(s.cfg.TickInterval.Milliseconds()), s.now())
	return lp
}

// Run is the loop's tick, queued by OnTick through EventLoop.Execute: it
// advances the timing wheel and checks the connections waiting for a flush.
func (lp *loop) Run(context.Context) error {
	lp.tickQueued.Store(false)
	now := lp.s.now()
	lp.wheel.advance(lp, now)
	lp.checkFlushWait()
	lp.checkTLSWatch()
	lp.publishPoolStats(now)
	lp.sweepPools()
	if lp.s.draining.Load() {
		lp.drainIdle()
	}
	lp.recycle()
	return nil
}

// recycle moves the structs of closed connections to the free lists.
func (lp *loop) recycle() {
	for i, cc := range lp.deadClients {
		lp.deadClients[i] = nil
		cc.c = nil
		cc.up = nil
		cc.rt = nil
		cc.target = nil
		cc.flushWatched = false
		cc.carry = nil
		cc.pumpCarry = nil
		cc.pump = nil
		cc.h2 = nil
		cc.tl = nil
		lp.releaseExchange(cc)
		pushFree(&lp.freeClients, cc)
	}
	lp.deadClients = lp.deadClients[:0]
	for i, us := range lp.deadUps {
		lp.deadUps[i] = nil
		us.reset()
		pushFree(&lp.freeUps, us)
	}
	lp.deadUps = lp.deadUps[:0]
}

// enter and leave bracket a gnet callback for connection c.
func (lp *loop) enter(c gnet.Conn) {
	lp.cur = c
	lp.closeCur = false
}

func (lp *loop) leave(act gnet.Action) gnet.Action {
	if lp.closeCur {
		act = gnet.Close
	}
	lp.cur = nil
	lp.closeCur = false
	return act
}

// closeConn closes c now, or at the end of the running callback when c is
// the connection that callback is for. OnClose runs for c either way.
func (lp *loop) closeConn(c gnet.Conn) {
	if c == nil {
		return
	}
	if c == lp.cur {
		lp.closeCur = true
		return
	}
	if st, ok := c.(*h2stream); ok {
		lp.closeStream(st) // a virtual connection (h2stream.go)
		return
	}
	if v, ok := c.(*tlsVC); ok {
		lp.closeTLS(v.l) // a TLS client served on the loop (tlsloop.go)
		return
	}
	_ = lp.el.Close(c)
}

func (lp *loop) newUpstream(up *route.Upstream) *upstreamConn {
	us, ok := popFree(&lp.freeUps)
	if !ok {
		us = &upstreamConn{lp: lp}
		us.t.owner = us
	}
	us.addr = up.Addr
	us.prof = up.TLS
	us.h2 = up.H2
	us.state = usDialing
	us.reused = false
	return us
}

// freeUpstream retires us; it is recycled at the next tick.
func (lp *loop) freeUpstream(us *upstreamConn) {
	lp.wheel.disarm(&us.t)
	lp.deadUps = append(lp.deadUps, us)
}

// dial connects to us.addr on a new goroutine with the connect timeout, then
// enrolls the connection into this loop with us as its context; OnOpen then
// runs onUpstreamOpen on the loop. A failure comes back through Execute as
// onDialError. A new connection costs a goroutine; pooled ones cost nothing.
func (lp *loop) dial(us *upstreamConn, timeoutMs int64) {
	addr, prof, h2 := us.addr, us.prof, us.h2
	go func() {
		var nc net.Conn
		var err error
		switch {
		case h2:
			// HTTP/2 target: the loop speaks HTTP/1.1 to a bridge (package h2up).
			nc, err = h2up.Dial(context.Background(), addr.String(), prof, msDuration(timeoutMs))
		case prof != nil:
			// TLS target: handshake here, the loop gets a socketpair end (package upstls).
			nc, err = upstls.Dial(context.Background(), addr.String(), prof, msDuration(timeoutMs))
		default:
			d := net.Dialer{Timeout: msDuration(timeoutMs)}
			nc, err = d.Dial("tcp", addr.String())
		}
		if err == nil {
			var ch <-chan gnet.RegisteredResult
			ch, err = lp.el.Enroll(gnet.NewContext(context.Background(), us), nc)
			if err != nil {
				_ = nc.Close()
			} else if res := <-ch; res.Err != nil {
				err = res.Err
			}
		}
		if err != nil {
			_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				lp.onDialError(us, err)
				return nil
			}))
		}
	}()
}

// watchFlush queues cc to be checked at every tick until checkFlushWait
// drops it.
func (lp *loop) watchFlush(cc *clientConn) {
	if cc.flushWatched {
		return
	}
	cc.flushWatched = true
	lp.flushWait = append(lp.flushWait, cc)
}

func (lp *loop) checkFlushWait() {
	if len(lp.flushWait) == 0 {
		return
	}
	// A check can close connections, whose OnClose may queue new waiters:
	// they go to a fresh list, not into the one being walked.
	list := lp.flushWait
	lp.flushWait = lp.flushSpare[:0]
	for _, cc := range list {
		if cc.flushWatched && !cc.flushed(lp) {
			lp.flushWait = append(lp.flushWait, cc)
			continue
		}
		cc.flushWatched = false
	}
	clear(list)
	lp.flushSpare = list[:0]
}

// drainIdle closes idle keep-alive client connections and pooled upstream
// connections during a graceful shutdown.
func (lp *loop) drainIdle() {
	lp.drainPools()
	lp.drainH2()
	for _, cc := range lp.idleClients() {
		cc.state = csClosing
		lp.closeConn(cc.c)
	}
}

// msDuration converts milliseconds to a time.Duration.
func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// popFree takes the last element of a free list, or reports false.
func popFree[T any](list *[]T) (T, bool) {
	var zero T
	n := len(*list)
	if n == 0 {
		return zero, false
	}
	x := (*list)[n-1]
	(*list)[n-1] = zero
	*list = (*list)[:n-1]
	return x, true
}

// pushFree puts x back on a free list unless it holds maxFree already (the
// extra is left to the GC).
func pushFree[T any](list *[]T, x T) {
	if len(*list) < maxFree {
		*list = append(*list, x)
	}
}
