package event

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// finalFlushTimeout bounds the last delivery attempt when an exporter stops.
const finalFlushTimeout = 2 * time.Second

// sink delivers batches of JSON documents for one exporter. write runs on the
// exporter's goroutine only; it may retry until ctx is done, and returns how
// many attempts failed along with the final error (nil if delivered).
type sink interface {
	write(ctx context.Context, batch [][]byte) (failedAttempts int, err error)
	close() error
}

// exporter is one running data exporter: a bounded queue (bufferSize
// documents) drained by its own goroutine into batches of groupSize, sent at
// least every groupDuration. A full queue drops and counts; nothing upstream
// ever waits for an exporter. The drain goroutine hands documents over in
// groups (pending), so the exporter goroutine wakes once per drain pass, not
// once per event.
type exporter struct {
	cfg    ExporterConfig
	filter compiledFilter
	sink   sink
	log    *slog.Logger

	queue  *docQueue
	cancel context.CancelFunc // aborts retries in progress when stopping
	stop   chan struct{}
	done   chan struct{}

	sent    atomic.Uint64 // documents delivered
	dropped atomic.Uint64 // documents refused because the queue was full
	failed  atomic.Uint64 // documents in batches abandoned after all retries
	errs    atomic.Uint64 // failed delivery attempts (each retry counts)

	lastWarn time.Time // exporter goroutine only
	quiet    int

	pending []*docBuf // drain goroutine only: documents accepted this pass, not yet queued
}

func newExporter(cfg ExporterConfig, s sink, log *slog.Logger) (*exporter, error) {
	f, err := compileFiltering(&cfg.Filtering)
	if err != nil {
		return nil, fmt.Errorf("exporter %q: %w: %w", cfg.ID, err, ErrBadConfig)
	}
	return &exporter{
		cfg: cfg, filter: f, sink: s, log: log.With("exporter", cfg.ID, "type", cfg.Type),
		queue: newDocQueue(cfg.BufferSize),
		stop:  make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// offer queues docs without waiting; the exporter releases its reference to
// each once it is sent or dropped. Safe for concurrent use; 0 allocs.
func (e *exporter) offer(docs ...*docBuf) {
	n := e.queue.push(docs...)
	if n == len(docs) {
		return
	}
	e.dropped.Add(uint64(len(docs) - n))
	for _, d := range docs[n:] {
		d.release()
	}
}

// hold adds doc to the documents the drain goroutine hands over at the end
// of its pass (or as soon as they make a group), and reports whether pending
// was empty before. Drain goroutine only.
func (e *exporter) hold(doc *docBuf) (first bool) {
	first = len(e.pending) == 0
	e.pending = append(e.pending, doc)
	if len(e.pending) >= e.cfg.GroupSize {
		e.handOver()
	}
	return first
}

// handOver queues the pending documents. Drain goroutine only.
func (e *exporter) handOver() {
	if len(e.pending) == 0 {
		return
	}
	e.offer(e.pending...)
	clear(e.pending)
	e.pending = e.pending[:0]
}

func (e *exporter) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go e.run(ctx)
}

// halt stops the goroutine after one last bounded flush of what is queued,
// and waits for it.
func (e *exporter) halt() {
	close(e.stop)
	e.cancel()
	<-e.done
}

func (e *exporter) run(ctx context.Context) {
	defer close(e.done)
	batch := make([]*docBuf, 0, e.cfg.GroupSize)
	views := make([][]byte, 0, e.cfg.GroupSize)
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		views = views[:0]
		for _, d := range batch {
			views = append(views, d.b)
		}
		failedAttempts, err := e.sink.write(ctx, views)
		clear(views)
		e.errs.Add(uint64(failedAttempts))
		if err != nil {
			e.failed.Add(uint64(len(batch)))
			e.warn(err, len(batch))
		} else {
			e.sent.Add(uint64(len(batch)))
		}
		for _, d := range batch {
			d.release()
		}
		clear(batch)
		batch = batch[:0]
	}
	// fill moves queued documents into the batch, sending each full group,
	// and reports whether it sent any.
	fill := func(ctx context.Context) (sent bool) {
		for {
			batch = e.queue.pop(batch, e.cfg.GroupSize)
			if len(batch) < e.cfg.GroupSize {
				return sent
			}
			flush(ctx)
			sent = true
		}
	}
	// The timer runs while the batch is not empty: no document waits more
	// than groupDuration (plus delivery time) once it has been dequeued.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due <-chan time.Time
	for {
		select {
		case <-e.queue.wake:
			sent := fill(ctx)
			switch {
			case len(batch) == 0:
				timer.Stop()
				due = nil
			case due == nil || sent:
				timer.Reset(e.cfg.groupDuration())
				due = timer.C
			}
		case <-due:
			due = nil
			flush(ctx)
		case <-e.stop:
			fctx, cancel := context.WithTimeout(context.Background(), finalFlushTimeout)
			defer cancel()
			e.queue.close()
			fill(fctx)
			flush(fctx)
			if err := e.sink.close(); err != nil {
				e.log.Warn("cannot close exporter", "err", err)
			}
			return
		}
	}
}

// maxKeptBatchBuf bounds the batch buffer a sink keeps between batches.
const maxKeptBatchBuf = 4 << 20

// warnEvery limits failure logs to one per exporter per period; the counters
// carry the full story.
const warnEvery = 10 * time.Second

// warn logs a failed batch, at most once per warnEvery, with the number of
// failures not logged since. Exporter goroutine only.
func (e *exporter) warn(err error, n int) {
	now := time.Now()
	if !e.lastWarn.IsZero() && now.Sub(e.lastWarn) < warnEvery {
		e.quiet++
		return
	}
	e.log.Warn("events dropped", "count", n, "err", err, "unlogged_failures", e.quiet)
	e.lastWarn, e.quiet = now, 0
}

// consoleSink writes each document as one line to a shared writer.
type consoleSink struct {
	mu  *sync.Mutex // shared by every console exporter of a hub
	w   io.Writer
	buf []byte // exporter goroutine only
}

func (c *consoleSink) write(_ context.Context, batch [][]byte) (int, error) {
	buf := c.buf[:0]
	for _, d := range batch {
		buf = append(buf, d...)
		buf = append(buf, '\n')
	}
	c.buf = buf
	if cap(c.buf) > maxKeptBatchBuf {
		c.buf = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.w.Write(buf); err != nil {
		return 1, fmt.Errorf("cannot write events to console: %w", err)
	}
	return 0, nil
}

func (c *consoleSink) close() error { return nil }
