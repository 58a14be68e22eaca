package sockpair

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Poller relays TLS connections the way Relay does, but for many connections on one goroutine
// that waits on its own edge-triggered epoll: no goroutine, stack or read buffer per
// connection, and one wake-up for every batch of ready sockets instead of a goroutine switch
// per record and direction. The goroutine parks in the runtime's poller (on the epoll
// descriptor) when nothing is ready, so it holds no P while idle.
//
// A connection's bytes are never blocked on: what the engine's end does not take waits in the
// connection and stops reading the peer until it drains, and what the peer's socket does not
// take (Conn's out) stops reading the engine; a peer that takes nothing for writeTimeout is
// cut off. The peer's end of stream shuts the engine's end for writing; the engine's end of
// stream, once its bytes are sent, closes the TLS connection (close_notify) and both sockets.
//
// Record encryption and decryption run on the Poller's goroutine, never on an event loop;
// handshakes stay on their own goroutines (the caller's).
type Poller struct {
	epfd, evfd int
	f          *os.File // epfd in the runtime's poller

	mu      sync.Mutex
	pending []*relayed // added, not yet registered by the poller goroutine

	// Owned by the poller goroutine.
	fn      func(fd uintptr) bool
	conns   map[int32]*relayed // by both descriptors
	stalled map[*relayed]struct{}
	timed   bool // a deadline is set on f for the stalled sweep
	events  [128]unix.EpollEvent
	inBuf   []byte // peer plaintext on its way to the engine
	outBuf  []byte // engine bytes on their way to the peer (one full TLS record)
	now     time.Time
}

type relayed struct {
	tc         *tls.Conn
	c          *Conn
	ufd        int    // the relay's end of the socketpair
	toEngine   []byte // peer plaintext the engine's end did not take yet
	watchOut   bool   // EPOLLOUT is registered on ufd (toEngine not empty)
	peerReady  bool   // the peer's socket may have bytes (an edge not drained yet)
	engReady   bool   // the engine's end may have bytes
	engHup     bool   // the engine's end hung up: read it to its end (see Conn on hup)
	peerDone   bool   // the peer's stream ended (or failed, or the engine stopped taking it)
	engineDone bool   // the engine's stream ended
	since      time.Time
	onClose    func()
}

const (
	peerEvents   = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	engineEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET
	readEvents   = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
	writeEvents  = unix.EPOLLOUT | unix.EPOLLHUP | unix.EPOLLERR
	hupEvents    = unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
)

// sweepEvery is how often a Poller with stalled writes looks for ones older than writeTimeout.
var sweepEvery = time.Second

var (
	pollersOnce sync.Once
	pollers     []*Poller
	pollersErr  error
	pollerNext  uint32
	pollerMu    sync.Mutex
)

// Shared returns one of the process's Pollers, round robin. They are made at the first call:
// GOMAXPROCS-1 of them (at least one), the event loops' count when the engine runs one
// processor more than loops.
func Shared() (*Poller, error) {
	pollersOnce.Do(func() {
		n := max(1, runtime.GOMAXPROCS(0)-1)
		for range n {
			p, err := NewPoller()
			if err != nil {
				pollersErr = err
				return
			}
			pollers = append(pollers, p)
		}
	})
	if pollersErr != nil {
		return nil, pollersErr
	}
	pollerMu.Lock()
	p := pollers[pollerNext%uint32(len(pollers))]
	pollerNext++
	pollerMu.Unlock()
	return p, nil
}

// NewPoller starts a Poller; it runs for the life of the process.
func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("cannot create relay poller: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("cannot create relay poller: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(evfd)}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(evfd)
		return nil, fmt.Errorf("cannot create relay poller: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(evfd)
		return nil, fmt.Errorf("cannot create relay poller: %w", err)
	}
	p := &Poller{epfd: epfd, evfd: evfd, f: os.NewFile(uintptr(epfd), "relay-epoll"),
		conns: map[int32]*relayed{}, stalled: map[*relayed]struct{}{},
		inBuf: make([]byte, outBuf), outBuf: make([]byte, outBuf)}
	p.fn = p.run
	rc, err := p.f.SyscallConn()
	if err == nil {
		err = p.f.SetReadDeadline(time.Time{}) // fails if the runtime cannot poll epfd
	}
	if err != nil {
		_ = p.f.Close()
		_ = unix.Close(evfd)
		return nil, fmt.Errorf("cannot create relay poller: %w", err)
	}
	go p.serve(rc)
	return p, nil
}

// Add hands the poller an established TLS connection over c (Wrap) and ufd, the relay's end of
// a socketpair whose other end the engine holds (NewRaw). The poller owns both from here and
// closes them when the relay ends, then calls onClose (on its goroutine; it must not block).
// Add does not block; the caller must not use tc, c or ufd again. On error nothing was taken.
func (p *Poller) Add(tc *tls.Conn, c *Conn, ufd int, onClose func()) error {
	if err := c.detach(); err != nil {
		return err
	}
	r := &relayed{tc: tc, c: c, ufd: ufd, peerReady: true, engReady: true, onClose: onClose}
	p.mu.Lock()
	p.pending = append(p.pending, r)
	p.mu.Unlock()
	one := [8]byte{1}
	if _, err := unix.Write(p.evfd, one[:]); err != nil && !errors.Is(err, unix.EAGAIN) {
		// The counter cannot overflow at one per connection; a failure here is a bug.
		panic("BUG: relay poller wake-up: " + err.Error())
	}
	return nil
}

// serve waits for the epoll descriptor to be readable and runs the ready relays. One
// RawConn.Read spans many waits (see Conn on edges); it returns only for the stalled-write
// sweep deadline.
func (p *Poller) serve(rc interface {
	Read(func(uintptr) bool) error
}) {
	for {
		err := rc.Read(p.fn)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			p.sweep()
			continue
		}
		if err != nil {
			panic("BUG: relay poller stopped: " + err.Error())
		}
	}
}

// run takes ready events until there are none (false: wait for readiness, call again).
func (p *Poller) run(uintptr) bool {
	for {
		n, err := unix.EpollWait(p.epfd, p.events[:], 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			panic("BUG: relay poller epoll_wait: " + err.Error())
		}
		if n == 0 {
			return false
		}
		p.handle(n)
	}
}

// handle runs the relays of the first n events.
func (p *Poller) handle(n int) {
	p.now = time.Time{}
	for i := range n {
		ev := &p.events[i]
		if int(ev.Fd) == p.evfd {
			p.register()
			continue
		}
		r := p.conns[ev.Fd]
		if r == nil {
			continue // closed earlier in this batch
		}
		if int(ev.Fd) == r.ufd {
			if ev.Events&readEvents != 0 {
				r.engReady = true
			}
			if ev.Events&hupEvents != 0 {
				r.engHup = true
			}
			if ev.Events&writeEvents != 0 && len(r.toEngine) > 0 {
				p.flushEngine(r)
			}
		} else {
			if ev.Events&readEvents != 0 {
				r.peerReady = true
				r.c.drained = false
			}
			if ev.Events&hupEvents != 0 {
				r.c.hup = true
			}
			if ev.Events&writeEvents != 0 && len(r.c.out) > 0 {
				if _, err := r.c.flush(); err != nil {
					p.close(r)
					continue
				}
			}
		}
		p.pump(r)
	}
}

// register takes the connections Add queued.
func (p *Poller) register() {
	var b [8]byte
	_, _ = unix.Read(p.evfd, b[:])
	p.mu.Lock()
	add := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, r := range add {
		p.conns[int32(r.c.fd)] = r
		p.conns[int32(r.ufd)] = r
		err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, r.c.fd, &unix.EpollEvent{Events: peerEvents, Fd: int32(r.c.fd)})
		if err == nil {
			err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, r.ufd, &unix.EpollEvent{Events: engineEvents, Fd: int32(r.ufd)})
		}
		if err != nil {
			p.close(r)
			continue
		}
		// Bytes that came with the handshake may already sit in crypto/tls or the sockets.
		p.pump(r)
	}
}

// pump moves what can move in both directions without blocking, then settles r's state.
func (p *Poller) pump(r *relayed) {
	for r.peerReady && !r.peerDone && len(r.toEngine) == 0 {
		n, err := r.tc.Read(p.inBuf)
		if n > 0 {
			p.toEngine(r, p.inBuf[:n])
		}
		if err == errWouldBlock {
			r.peerReady = false
			break
		}
		if err != nil {
			// The peer closed or failed: the engine sees end of stream, finishes what it is
			// sending and closes its end.
			r.peerDone = true
			_ = unix.Shutdown(r.ufd, unix.SHUT_WR)
		}
	}
	for r.engReady && !r.engineDone && len(r.c.out) == 0 {
		n, err := unix.Read(r.ufd, p.outBuf)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				r.engReady = false
				break
			}
		}
		if err != nil || n == 0 {
			r.engineDone = true
			break
		}
		if _, err := r.tc.Write(p.outBuf[:n]); err != nil {
			p.close(r)
			return
		}
		if n < len(p.outBuf) && !r.engHup {
			r.engReady = false // short: the end was empty; the next bytes raise an edge
		}
	}
	switch {
	case r.c.werr != nil, r.engineDone && len(r.c.out) == 0:
		p.close(r)
	case len(r.c.out) > 0 && r.since.IsZero():
		r.since = p.clock()
		p.stalled[r] = struct{}{}
		if !p.timed {
			p.timed = true
			_ = p.f.SetReadDeadline(r.since.Add(sweepEvery))
		}
	case len(r.c.out) == 0 && !r.since.IsZero():
		r.since = time.Time{}
		delete(p.stalled, r)
	}
}

// toEngine writes b to the engine's end, keeping what it does not take.
func (p *Poller) toEngine(r *relayed, b []byte) {
	if len(r.toEngine) > 0 {
		r.toEngine = append(r.toEngine, b...)
		return
	}
	n, err := writeSome(r.ufd, b)
	if err != nil {
		// The engine closed its end: nothing more is owed to it; its end of stream follows.
		r.peerDone = true
		return
	}
	if n < len(b) {
		r.toEngine = append(r.toEngine, b[n:]...)
		p.watchEngineOut(r, true)
	}
}

func (p *Poller) flushEngine(r *relayed) {
	n, err := writeSome(r.ufd, r.toEngine)
	if err != nil {
		r.toEngine, r.peerDone = nil, true
		p.watchEngineOut(r, false)
		return
	}
	if n < len(r.toEngine) {
		r.toEngine = r.toEngine[:copy(r.toEngine, r.toEngine[n:])]
		return
	}
	r.toEngine = nil
	p.watchEngineOut(r, false)
}

// watchEngineOut registers EPOLLOUT on ufd only while bytes wait for the engine: a Unix socket
// signals writability each time its peer reads, which would wake the poller per request.
func (p *Poller) watchEngineOut(r *relayed, on bool) {
	if r.watchOut == on {
		return
	}
	r.watchOut = on
	ev := uint32(engineEvents)
	if on {
		ev |= unix.EPOLLOUT
	}
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, r.ufd, &unix.EpollEvent{Events: ev, Fd: int32(r.ufd)})
}

// close ends r: close_notify if it can be sent now, both sockets closed (which takes them out
// of the epoll), onClose.
func (p *Poller) close(r *relayed) {
	if p.conns[int32(r.ufd)] != r {
		return
	}
	delete(p.conns, int32(r.c.fd))
	delete(p.conns, int32(r.ufd))
	delete(p.stalled, r)
	_ = r.tc.Close()
	_ = unix.Close(r.ufd)
	if r.onClose != nil {
		r.onClose()
	}
}

// sweep cuts off the peers whose writes stalled for writeTimeout, and sets the next sweep.
func (p *Poller) sweep() {
	now := time.Now()
	for r := range p.stalled {
		if now.Sub(r.since) >= writeTimeout {
			p.close(r)
		}
	}
	p.timed = len(p.stalled) > 0
	if p.timed {
		_ = p.f.SetReadDeadline(now.Add(sweepEvery))
	} else {
		_ = p.f.SetReadDeadline(time.Time{})
	}
}

func (p *Poller) clock() time.Time {
	if p.now.IsZero() {
		p.now = time.Now()
	}
	return p.now
}

// NewRaw returns the two ends of a new non-blocking Unix stream socketpair: engine, to enroll
// into an event loop (a syscall.Conn), and ours as a bare descriptor for a Poller.
func NewRaw() (engine *net.UnixConn, ours int, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, -1, fmt.Errorf("cannot create socketpair: %w", err)
	}
	if engine, err = fdConn(fds[0], "engine"); err != nil {
		_ = unix.Close(fds[1])
		return nil, -1, err
	}
	return engine, fds[1], nil
}
