package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torii-gateway/torii/bench/hdr"
	"github.com/torii-gateway/torii/bench/internal/wire"
)

// Defaults for zero Config fields.
const (
	DefaultTimeout    = 5 * time.Second
	DefaultReadBuffer = 32 << 10
	// connectBackoff spaces reconnection attempts in closed loop, so a dead
	// target costs a few hundred dials per second, not a busy loop.
	connectBackoff = 10 * time.Millisecond
)

// Config describes one run. Addr, Request and Connections are required, and
// at least one of Duration and Requests.
type Config struct {
	Addr        string        // host:port to dial
	Request     []byte        // one serialized request (see BuildRequest)
	Head        bool          // the request is HEAD: responses have no body
	Connections int           // keep-alive connections, one goroutine each
	Pipeline    int           // closed loop: requests written per batch (0 means 1)
	Duration    time.Duration // run time; 0: until Requests are done
	Requests    int64         // request budget over all connections; 0: no limit
	Rate        float64       // open loop: requests per second in total; 0: closed loop
	Timeout     time.Duration // per request (per batch when pipelining); 0: DefaultTimeout
	ReadBuffer  int           // per connection; 0: DefaultReadBuffer

	Progress         io.Writer     // a live line per ProgressInterval; nil: none
	ProgressInterval time.Duration // 0: one second
}

// Errors counts failed requests by kind. A request counts once, under the
// first failure that hit it; a pipelined batch that fails counts every
// request of it that had no response.
type Errors struct {
	Connect  uint64         `json:"connect"`  // dial failures (each costs one attempt)
	Timeout  uint64         `json:"timeout"`  // no complete response within Timeout
	Read     uint64         `json:"read"`     // connection closed or reset while waiting
	Write    uint64         `json:"write"`    // request could not be written
	Protocol uint64         `json:"protocol"` // response broke HTTP/1.1 syntax
	Status   map[int]uint64 `json:"status"`   // complete responses with a non-2xx status
}

// Total returns the number of failed requests, non-2xx included.
func (e *Errors) Total() uint64 {
	n := e.Connect + e.Timeout + e.Read + e.Write + e.Protocol
	for _, c := range e.Status {
		n += c
	}
	return n
}

// Result is the outcome of Run.
type Result struct {
	Elapsed   time.Duration  // from the start of traffic until every connection stopped
	Responses uint64         // complete responses, any status
	OK        uint64         // complete 2xx responses
	BodyBytes uint64         // response body bytes read
	Errors    Errors         // failures by kind
	Latency   *hdr.Histogram // nanoseconds, one value per complete response
	SendLag   *hdr.Histogram // open loop: nanoseconds from each intended send time to the actual send
	PerSecond []uint64       // complete responses in each whole second of the run
	Config    Config         // the configuration, with defaults filled in
	Started   time.Time      // when traffic started (t0 of the open-loop schedule)
	Sent      uint64         // requests written
}

// Run drives the configured traffic and returns what it measured. It returns
// an error only for an invalid Config; failures of the target are counted in
// Result.Errors.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	rs := &runState{cfg: &cfg}
	if cfg.Requests > 0 {
		rs.budget.Store(cfg.Requests)
	}
	var timer *hrTimer
	if cfg.Rate > 0 {
		t, err := newHRTimer()
		if err != nil {
			return nil, err
		}
		defer t.close()
		timer = t
	}
	workers := make([]*worker, cfg.Connections)
	for i := range workers {
		workers[i] = newWorker(i, rs)
	}

	// Connect everything first, so the schedule starts on warm connections.
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(w.connect)
	}
	wg.Wait()

	rs.t0 = time.Now()
	if cfg.Duration > 0 {
		rs.end = rs.t0.Add(cfg.Duration)
		hard := cfg.Duration
		if cfg.Rate > 0 {
			hard += cfg.Timeout // late requests of the schedule may still go out
		}
		stopTimer := time.AfterFunc(hard, func() { rs.stop.Store(true) })
		defer stopTimer.Stop()
	}
	stopCtx := context.AfterFunc(ctx, func() { rs.stop.Store(true) })
	defer stopCtx()

	secondsCap := 1
	if cfg.Duration > 0 {
		secondsCap = int(cfg.Duration/time.Second) + 1
	}
	perSecond := make([]uint64, 0, secondsCap)
	progressDone := make(chan struct{})
	progressStopped := make(chan struct{})
	go func() {
		defer close(progressStopped)
		rs.progress(workers, progressDone, &perSecond)
	}()

	workersDone := make(chan struct{})
	var pacer sync.WaitGroup
	if timer != nil {
		pacer.Go(func() { rs.pace(workers, timer, workersDone) })
	}
	for _, w := range workers {
		if cfg.Rate > 0 {
			wg.Go(w.openLoop)
		} else {
			wg.Go(w.closedLoop)
		}
	}
	wg.Wait()
	elapsed := time.Since(rs.t0)
	close(workersDone)
	pacer.Wait()
	close(progressDone)
	<-progressStopped

	res := &Result{
		Elapsed: elapsed, Latency: hdr.NewDefault(), SendLag: hdr.NewDefault(), Config: cfg, Started: rs.t0,
		Errors: Errors{Status: map[int]uint64{}}, PerSecond: perSecond,
	}
	for _, w := range workers {
		w.close()
		err := res.Latency.Merge(w.hist)
		if w.lag != nil {
			err = errors.Join(err, res.SendLag.Merge(w.lag))
		}
		if err != nil {
			panic("BUG: worker histogram layout differs: " + err.Error())
		}
		res.Responses += w.responses.Load()
		res.BodyBytes += w.bodyBytes
		res.Sent += w.sent
		e := &w.errs
		res.Errors.Connect += e.Connect
		res.Errors.Timeout += e.Timeout
		res.Errors.Read += e.Read
		res.Errors.Write += e.Write
		res.Errors.Protocol += e.Protocol
		for code, n := range w.status {
			if n == 0 {
				continue
			}
			if code >= 200 && code < 300 {
				res.OK += n
			} else {
				res.Errors.Status[code] += n
			}
		}
	}
	return res, nil
}

func (c *Config) normalize() error {
	switch {
	case c.Addr == "" || len(c.Request) == 0:
		return fmt.Errorf("cannot run without a target address and a request: %w", ErrConfig)
	case c.Connections < 1:
		return fmt.Errorf("cannot run with %d connections: %w", c.Connections, ErrConfig)
	case c.Duration <= 0 && c.Requests <= 0:
		return fmt.Errorf("cannot run without a duration or a request count: %w", ErrConfig)
	case c.Rate < 0 || c.Pipeline < 0 || c.Timeout < 0 || c.Requests < 0:
		return fmt.Errorf("cannot run with a negative rate, pipeline, timeout or request count: %w", ErrConfig)
	case c.Rate > 0 && c.Pipeline > 1:
		return fmt.Errorf("cannot pipeline in open loop (each request has its own send time): %w", ErrConfig)
	}
	c.Pipeline = max(c.Pipeline, 1)
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ReadBuffer == 0 {
		c.ReadBuffer = DefaultReadBuffer
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = time.Second
	}
	return nil
}

// runState is what the workers of one run share.
type runState struct {
	cfg    *Config
	t0     time.Time
	end    time.Time // zero without a Duration
	stop   atomic.Bool
	budget atomic.Int64 // remaining requests when cfg.Requests > 0
	paced  atomic.Bool  // open loop: the pacer has released its last slot
}

// due returns the intended send time of slot k of the open-loop schedule:
// slot k belongs to connection k mod Connections, as its request k div
// Connections.
func (rs *runState) due(k int) time.Time {
	return rs.t0.Add(time.Duration(float64(k) * float64(time.Second) / rs.cfg.Rate))
}

// pace releases the open-loop slots to their connections on time, until the
// schedule ends, the run stops or done is closed. One pacer with a
// high-resolution timer keeps every connection's sends within tens of
// microseconds of schedule (see hrTimer) at one wake-up per slot or fewer.
func (rs *runState) pace(workers []*worker, timer *hrTimer, done <-chan struct{}) {
	defer func() {
		rs.paced.Store(true)
		for _, w := range workers {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}()
	n := len(workers)
	for k := 0; ; {
		select {
		case <-done:
			return
		default:
		}
		if rs.stop.Load() {
			return
		}
		next := rs.due(k)
		if !rs.end.IsZero() && !next.Before(rs.end) {
			return
		}
		now := time.Now()
		if next.After(now) {
			// Re-check stop and done at least every 50 ms at low rates.
			at := next
			if limit := now.Add(50 * time.Millisecond); limit.Before(at) {
				at = limit
			}
			if err := timer.waitUntil(at); err != nil {
				time.Sleep(time.Until(next)) // degraded precision, still correct
			}
			continue
		}
		for ; !next.After(now) && (rs.end.IsZero() || next.Before(rs.end)); k, next = k+1, rs.due(k+1) {
			w := workers[k%n]
			w.released.Store(uint64(k/n + 1))
			select {
			case w.wake <- struct{}{}:
			default: // a nudge is already pending
			}
		}
	}
}

// claim takes up to n requests from the budget and returns how many it got.
func (rs *runState) claim(n int) int {
	if rs.cfg.Requests == 0 {
		return n
	}
	left := rs.budget.Add(-int64(n))
	if left >= 0 {
		return n
	}
	return max(0, n+int(left))
}

// progress samples the workers' counters every interval: it writes a live
// line and records responses per whole second, until done is closed.
func (rs *runState) progress(workers []*worker, done <-chan struct{}, perSecond *[]uint64) {
	sum := func() (resp, fail uint64) {
		for _, w := range workers {
			resp += w.responses.Load()
			fail += w.failures.Load()
		}
		return resp, fail
	}
	// The per-second series ticks on whole seconds of the schedule; the
	// progress line uses its own interval.
	second := time.NewTicker(time.Second)
	defer second.Stop()
	line := time.NewTicker(rs.cfg.ProgressInterval)
	defer line.Stop()
	var lastSecond, lastLine uint64
	lastLineAt := rs.t0
	for {
		select {
		case <-done:
			return
		case <-second.C:
			r, _ := sum()
			*perSecond = append(*perSecond, r-lastSecond)
			lastSecond = r
		case now := <-line.C:
			if rs.cfg.Progress == nil {
				continue
			}
			r, f := sum()
			dt := now.Sub(lastLineAt).Seconds()
			fmt.Fprintf(rs.cfg.Progress, "loadgen: %6.1fs  %9.0f req/s  %10d responses  %8d errors\n",
				now.Sub(rs.t0).Seconds(), float64(r-lastLine)/dt, r, f)
			lastLine, lastLineAt = r, now
		}
	}
}

// worker drives one connection. Fields below the atomics are touched only
// by the worker's goroutine until Run merges them.
type worker struct {
	id   int
	rs   *runState
	conn net.Conn
	raw  *rawConn // writes requests and reads conn; see rawConn
	rd   *wire.Reader
	wbuf []byte // the request, repeated Pipeline times
	hist *hdr.Histogram
	lag  *hdr.Histogram // open loop only

	responses atomic.Uint64 // read by the progress goroutine
	failures  atomic.Uint64 // read by the progress goroutine
	released  atomic.Uint64 // open loop: slots the pacer has released to this worker
	wake      chan struct{} // open loop: the pacer's nudge after a release (capacity 1)

	resp      wire.Response
	bodyBytes uint64
	sent      uint64
	errs      Errors // Status unused: see status
	status    [600]uint64
}

func newWorker(id int, rs *runState) *worker {
	w := &worker{id: id, rs: rs, hist: hdr.NewDefault(), wake: make(chan struct{}, 1)}
	if rs.cfg.Rate > 0 {
		w.lag = hdr.NewDefault()
	}
	w.rd = wire.NewReader(nil, rs.cfg.ReadBuffer)
	for range rs.cfg.Pipeline {
		w.wbuf = append(w.wbuf, rs.cfg.Request...)
	}
	return w
}

// connect dials the target if there is no connection; it counts a failure.
func (w *worker) connect() {
	if w.conn != nil {
		return
	}
	c, err := net.DialTimeout("tcp", w.rs.cfg.Addr, w.rs.cfg.Timeout)
	if err != nil {
		w.errs.Connect++
		w.failures.Add(1)
		return
	}
	raw, err := newRawConn(c)
	if err != nil {
		panic("BUG: a TCP connection without a raw descriptor: " + err.Error())
	}
	w.conn, w.raw = c, raw
	w.rd.Reset(raw)
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// fail counts n requests under the kind of err and drops the connection.
func (w *worker) fail(err error, n int, writing bool) {
	k := uint64(n)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.errs.Timeout += k
	case errors.Is(err, wire.ErrMalformed), errors.Is(err, wire.ErrHeadTooLarge), errors.Is(err, wire.ErrUnsupported):
		w.errs.Protocol += k
	case writing || errors.As(err, new(*writeError)):
		w.errs.Write += k
	default:
		w.errs.Read += k
	}
	w.failures.Add(k)
	w.close()
}

// exchange writes n requests and reads their responses, recording each
// latency from since. It returns false when the connection was lost.
func (w *worker) exchange(n int, since time.Time) bool {
	cfg := w.rs.cfg
	now := time.Now()
	if cfg.Rate > 0 {
		w.lag.Record(int64(now.Sub(since)))
	}
	// The read deadline bounds the whole exchange: the request is normally
	// written inside the first read (see rawConn), and the rarer blocking
	// writes set their own deadline.
	deadline := now.Add(cfg.Timeout)
	if err := w.conn.SetReadDeadline(deadline); err != nil {
		w.fail(err, n, true)
		return false
	}
	out := w.wbuf[:n*len(cfg.Request)]
	if w.rd.Buffered() == 0 {
		w.raw.out = out // written by the next read: one system call less
		w.raw.deadline = deadline
	} else if err := w.conn.SetWriteDeadline(deadline); err != nil {
		w.fail(err, n, true)
		return false
	} else if _, err := w.conn.Write(out); err != nil {
		w.fail(err, n, true)
		return false
	}
	w.sent += uint64(n)
	for i := range n {
		if err := w.rd.Next(&w.resp, cfg.Head); err != nil {
			w.fail(err, n-i, false)
			return false
		}
		w.hist.Record(int64(time.Since(since)))
		w.bodyBytes += uint64(w.resp.BodyLen)
		w.status[min(w.resp.Status, len(w.status)-1)]++
		w.responses.Add(1)
		if w.resp.Status < 200 || w.resp.Status >= 300 {
			w.failures.Add(1)
		}
		if !w.resp.KeepAlive {
			if i < n-1 { // the server dropped the rest of the batch
				w.errs.Read += uint64(n - 1 - i)
				w.failures.Add(uint64(n - 1 - i))
			}
			w.close()
			return false
		}
	}
	return true
}

func (w *worker) closedLoop() {
	rs := w.rs
	for !rs.stop.Load() {
		if w.conn == nil {
			if w.connect(); w.conn == nil {
				time.Sleep(connectBackoff)
				continue
			}
		}
		n := rs.claim(rs.cfg.Pipeline)
		if n == 0 {
			return
		}
		w.exchange(n, time.Now())
	}
}

func (w *worker) openLoop() {
	rs := w.rs
	n := rs.cfg.Connections
	for i := 0; !rs.stop.Load(); i++ {
		intended := rs.due(i*n + w.id)
		if !rs.end.IsZero() && !intended.Before(rs.end) {
			return
		}
		if rs.claim(1) == 0 {
			return
		}
		for w.released.Load() <= uint64(i) { // wait for the pacer; never skip a slot
			if rs.stop.Load() || rs.paced.Load() {
				return
			}
			<-w.wake
		}
		if w.conn == nil {
			if w.connect(); w.conn == nil {
				continue // this slot is lost; the next one may be due already
			}
		}
		w.exchange(1, intended)
	}
}
