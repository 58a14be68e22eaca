package event

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torii-gateway/torii/core/metric"
)

// Drain pacing: each pass takes at most drainBatch records per ring, and an
// idle pass sleeps PollInterval (default DefaultPollInterval).
const (
	drainBatch          = 512
	DefaultPollInterval = 2 * time.Millisecond
)

// Options configure a Hub.
type Options struct {
	Loops          int           // event loops, one Ring each (at least 1)
	RingSize       int           // slots per ring, rounded up to a power of two; 0 means DefaultRingSize
	CaptureHeaders bool          // keep request and response headers in events (costs copies on the loop)
	Env            string        // @env of gateway events; "" means DefaultEnv
	PollInterval   time.Duration // idle sleep of the drain goroutine; 0 means DefaultPollInterval

	// Metrics, when set, gets the hub's loss and exporter families (see
	// registerMetrics). One hub per Set: a second one would register the
	// same names, which metric.Set refuses with a panic.
	Metrics *metric.Set
	// AccessLog, when set, receives one line per recorded request, written by
	// the drain goroutine (never the loop), in AccessLogFormat.
	AccessLog       io.Writer
	AccessLogFormat AccessLogFormat
	// Console is where console exporters write; nil means os.Stdout.
	Console io.Writer
	// HTTPClient sends webhook batches; nil means a client with sane timeouts.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Hub owns one Ring per event loop, the goroutine that drains them into
// GatewayEvents, and the running exporters. Create it with NewHub, give each
// loop its Ring(i), start Run, and configure exporters with SetExporters.
type Hub struct {
	opts  Options
	rings []*Ring // one per loop, then the shared ring last

	sharedMu sync.Mutex // serialises producers on the shared ring
	log      *slog.Logger
	ids      *SharedIDGen

	mu          sync.Mutex // serialises SetExporters and Close
	exporters   atomic.Pointer[[]*exporter]
	unsupported atomic.Pointer[[]string]
	closed      bool
	consoleMu   sync.Mutex

	recorded  atomic.Uint64 // records drained from rings
	published atomic.Uint64 // documents given to Publish
	invalid   atomic.Uint64 // Publish calls with a document that is not a JSON object
}

// NewHub returns a Hub with its rings allocated; nothing runs until Run.
func NewHub(opts Options) *Hub {
	if opts.Loops < 1 {
		opts.Loops = 1
	}
	if opts.RingSize <= 0 {
		opts.RingSize = DefaultRingSize
	}
	if opts.Env == "" {
		opts.Env = DefaultEnv
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Console == nil {
		opts.Console = os.Stdout
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: time.Minute}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Hub{opts: opts, log: opts.Logger.With("component", "events"), ids: NewSharedIDGen(MaxGenerators - 1)}
	for range opts.Loops + 1 {
		h.rings = append(h.rings, newRing(opts.RingSize, opts.CaptureHeaders))
	}
	empty := []*exporter{}
	h.exporters.Store(&empty)
	none := []string{}
	h.unsupported.Store(&none)
	if opts.Metrics != nil {
		h.registerMetrics(opts.Metrics)
	}
	return h
}

// Ring returns the ring of loop i (modulo the loop count). Only loop i may
// Push on it.
func (h *Hub) Ring(i int) *Ring { return h.rings[i%h.opts.Loops] }

// PushShared records rec from a goroutine that owns no ring (a pump or tunnel
// goroutine finishing an exchange off the loops). Producers serialise on a
// mutex held only for the copy; as with Push, a full ring counts a drop and
// returns false. Safe for concurrent use; 0 allocs.
func (h *Hub) PushShared(rec *Record) bool {
	h.sharedMu.Lock()
	ok := h.rings[h.opts.Loops].Push(rec)
	h.sharedMu.Unlock()
	return ok
}

// Run drains the rings into events until ctx is done, then drains what is
// left, stops every exporter after a last bounded flush, and returns. It
// drains in batches: after a pass that left no ring backed up it sleeps
// PollInterval, so that neither it nor the exporters wake once per event;
// the loops never wait for it.
func (h *Hub) Run(ctx context.Context) {
	var al *accessLogger
	if h.opts.AccessLog != nil {
		al = &accessLogger{w: bufio.NewWriterSize(h.opts.AccessLog, 64<<10), format: h.opts.AccessLogFormat}
	}
	d := &drainer{h: h, al: al}
	t := time.NewTimer(h.opts.PollInterval)
	defer t.Stop()
	for {
		if _, backlog := d.pass(); backlog {
			continue
		}
		d.idle()
		t.Reset(h.opts.PollInterval)
		select {
		case <-ctx.Done():
			// What was committed before now, bounded: loops may still be producing.
			for i := 0; i < h.opts.RingSize/drainBatch+1; i++ {
				if n, _ := d.pass(); n == 0 {
					break
				}
			}
			d.idle()
			h.Close()
			return
		case <-t.C:
		}
	}
}

// drainer is the state of the drain goroutine; everything in it is reused
// from one event to the next, so steady-state draining allocates nothing.
type drainer struct {
	h       *Hub
	al      *accessLogger
	exps    []*exporter // the exporters of this pass
	nowMs   int64       // the clock of this pass, for event ids
	buf     []byte      // the event being encoded
	ev      lazyEvent   // the event being filtered
	accept  []*exporter // the exporters that accepted it
	touched []*exporter // the exporters holding documents of this pass
}

// pass drains every ring once (at most drainBatch records each), hands the
// documents to the exporters, and reports how many records it took and
// whether some ring had more than drainBatch waiting.
func (d *drainer) pass() (n int, backlog bool) {
	d.exps = *d.h.exporters.Load()
	d.nowMs = time.Now().UnixMilli()
	for _, r := range d.h.rings {
		k := r.drain(drainBatch, d.handle)
		n += k
		backlog = backlog || k == drainBatch
	}
	for _, e := range d.touched {
		e.handOver()
	}
	clear(d.touched)
	d.touched = d.touched[:0]
	d.exps = nil
	d.h.recorded.Add(uint64(n))
	return n, backlog
}

func (d *drainer) idle() {
	if d.al != nil {
		if err := d.al.w.Flush(); err != nil {
			d.h.log.Warn("cannot write access log", "err", err)
		}
	}
}

// handle encodes rec once, straight into the pooled buffer the accepting
// exporters will share, and holds it for them until the end of the pass.
func (d *drainer) handle(rec *Record) {
	if d.al != nil {
		d.al.write(rec)
	}
	if len(d.exps) == 0 {
		return
	}
	d.buf = AppendGatewayEvent(d.buf[:0], rec, d.h.ids.Next(d.nowMs), d.h.opts.Env)
	d.ev = lazyEvent{kind: KindGateway, doc: d.buf}
	d.accept = d.h.route(d.exps, &d.ev, d.accept[:0])
	d.ev = lazyEvent{}
	if len(d.accept) == 0 {
		return
	}
	doc := newDoc(d.buf, len(d.accept))
	for _, e := range d.accept {
		if e.hold(doc) {
			d.touched = append(d.touched, e)
		}
	}
	clear(d.accept)
}

// route appends to dst the exporters of exps whose filter accepts ev, and
// returns it. The event is decoded only if a filter looks past its @type.
func (h *Hub) route(exps []*exporter, ev *lazyEvent, dst []*exporter) []*exporter {
	for _, e := range exps {
		if !e.filter.empty() && !e.filter.accept(ev) {
			continue
		}
		dst = append(dst, e)
	}
	if ev.err != nil {
		h.log.Warn("cannot filter event", "err", ev.err)
	}
	return dst
}

// dispatch offers doc, an event of type kind, to every exporter whose
// filter accepts it, copied once into a pooled buffer shared by the
// accepting exporters. Off the drain path (Publish): it allocates.
func (h *Hub) dispatch(exps []*exporter, kind string, doc []byte) {
	var scratch [16]*exporter
	accepted := h.route(exps, &lazyEvent{kind: kind, doc: doc}, scratch[:0])
	if len(accepted) == 0 {
		return
	}
	d := newDoc(doc, len(accepted))
	for _, e := range accepted {
		e.offer(d)
	}
}

// decodeEvent decodes doc for filtering; a separate function so that the
// decoded value is heap-allocated only when some exporter filters.
func decodeEvent(doc []byte) (map[string]any, error) {
	var v map[string]any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("cannot decode event: %w", err)
	}
	return v, nil
}

// Publish sends a JSON object of the given kind (AuditEvent, AlertEvent...)
// to the exporters, through the same filtering and queues as gateway events.
// If doc has no "@type", one with value kind is added. doc is copied; the
// caller may reuse it. Safe for concurrent use off the loop; it never blocks
// on an exporter. A document that is not a JSON object is counted and ignored.
func (h *Hub) Publish(kind string, doc []byte) {
	h.published.Add(1)
	doc = bytes.TrimSpace(doc)
	if len(doc) < 2 || doc[0] != '{' || !json.Valid(doc) {
		h.invalid.Add(1)
		return
	}
	exps := *h.exporters.Load()
	if len(exps) == 0 {
		return
	}
	if t, ok := topLevelType(doc); ok {
		kind = t
	} else {
		typed := make([]byte, 0, len(doc)+len(kind)+16)
		typed = append(typed, `{"@type":`...)
		typed = appendJSONString(typed, kind)
		if rest := bytes.TrimSpace(doc[1:]); len(rest) > 0 && rest[0] != '}' {
			typed = append(typed, ',')
		}
		doc = append(typed, doc[1:]...)
	}
	h.dispatch(exps, kind, doc)
}

// topLevelType returns the string "@type" of a JSON object document. A
// non-string @type reads as absent for the fast path ("" kind: filters on
// @type then decode the document).
func topLevelType(doc []byte) (string, bool) {
	var probe struct {
		Type *json.RawMessage `json:"@type"`
	}
	if json.Unmarshal(doc, &probe) != nil || probe.Type == nil {
		return "", false
	}
	var s string
	if json.Unmarshal(*probe.Type, &s) != nil {
		return "", true
	}
	return s, true
}

// SetExporters replaces the running exporters with cfgs. Every config is
// validated first; on any error (wrapping ErrBadConfig) nothing changes.
// Disabled configs are not run; configs of a type Torii does not run
// (ErrUnsupportedExporter) are kept aside and listed in Stats. Exporters
// whose config did not change keep running with their queues and counters;
// removed or changed ones get a last bounded flush and stop. Safe for
// concurrent use; it may block while stopped exporters flush (≤ 2s each).
func (h *Hub) SetExporters(cfgs []ExporterConfig) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("cannot set exporters: %w", ErrClosed)
	}
	seen := map[string]bool{}
	var want []ExporterConfig
	var unsupported []string
	for i := range cfgs {
		c := &cfgs[i]
		if seen[c.ID] {
			return fmt.Errorf("exporter %q: id: duplicate: %w", c.ID, ErrBadConfig)
		}
		seen[c.ID] = true
		if err := c.Validate(); err != nil {
			if errors.Is(err, ErrUnsupportedExporter) {
				unsupported = append(unsupported, c.ID)
				continue
			}
			return err
		}
		if c.Enabled {
			want = append(want, *c)
		}
	}
	old := *h.exporters.Load()
	byID := map[string]*exporter{}
	for _, e := range old {
		byID[e.cfg.ID] = e
	}
	var next []*exporter
	var started []*exporter
	keep := map[*exporter]bool{}
	for i := range want {
		if e := byID[want[i].ID]; e != nil && e.cfg.sameAs(&want[i]) {
			next = append(next, e)
			keep[e] = true
			continue
		}
		e, err := h.build(want[i])
		if err != nil {
			for _, s := range started {
				s.sink.close()
			}
			return err
		}
		next = append(next, e)
		started = append(started, e)
	}
	for _, e := range started {
		e.start()
	}
	if next == nil {
		next = []*exporter{}
	}
	h.exporters.Store(&next)
	if unsupported == nil {
		unsupported = []string{}
	}
	h.unsupported.Store(&unsupported)
	for _, e := range old {
		if !keep[e] {
			e.halt()
		}
	}
	return nil
}

func (h *Hub) build(cfg ExporterConfig) (*exporter, error) {
	var s sink
	switch cfg.kind() {
	case TypeWebhook:
		wc, err := cfg.webhook()
		if err != nil {
			return nil, err
		}
		s = &webhookSink{cfg: wc, client: h.opts.HTTPClient}
	case TypeFile:
		fc, err := cfg.file()
		if err != nil {
			return nil, err
		}
		fs, err := openFileSink(fc)
		if err != nil {
			return nil, fmt.Errorf("exporter %q: %w", cfg.ID, err)
		}
		s = fs
	case TypeConsole:
		s = &consoleSink{mu: &h.consoleMu, w: h.opts.Console}
	case TypeKafka:
		kc, err := cfg.kafka()
		if err != nil {
			return nil, err
		}
		ks, err := newKafkaSink(kc)
		if err != nil {
			return nil, fmt.Errorf("exporter %q: %w", cfg.ID, err)
		}
		s = ks
	default:
		return nil, fmt.Errorf("exporter %q: type %q: %w", cfg.ID, cfg.Type, ErrUnsupportedExporter)
	}
	e, err := newExporter(cfg, s, h.log)
	if err != nil {
		s.close()
		return nil, err
	}
	return e, nil
}

// Close stops every exporter after a last bounded flush. Run calls it on
// exit; later SetExporters calls fail. Safe to call more than once.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	old := *h.exporters.Load()
	empty := []*exporter{}
	h.exporters.Store(&empty)
	for _, e := range old {
		e.halt()
	}
}
