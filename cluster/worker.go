package cluster

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
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// StateFile is the file, in the worker's --data-dir, that keeps the last state applied: one line
// of metadata, then the NDJSON state exactly as received (decompressed).
const StateFile = "cluster-state.ndjson"

// Worker defaults.
const (
	// DefaultStaleAfter is Otoroshi's worker.dataStaleAfter: a state whose X-Data-From is older
	// is refused.
	DefaultStaleAfter = 10 * time.Minute
	// DefaultRetryEvery is the pause after a failed call to the leader (the fallback polling
	// period while the long poll does not work).
	DefaultRetryEvery = time.Second
)

// Status is what a worker reports about itself on each call to the leader.
type Status struct {
	Leases     int64  // quota calls leased from Redis, not yet spent
	RedisCalls int64  // Redis round trips so far
	Redis      string // "up", "down" or "off"
}

// WorkerOptions configure NewWorker.
type WorkerOptions struct {
	// Leader is the leader's admin base URL, http://host:port.
	Leader string
	Key    Key
	// ID, Name, Version, Location and HTTPPort are sent as the Otoroshi-Worker-* headers.
	ID, Name, Version, Location string
	HTTPPort                    int
	// DataDir keeps StateFile; empty: nothing is kept.
	DataDir string
	// Apply compiles and publishes a state (Otoroshi storage key → JSON). An error refuses the
	// state: the previous one keeps serving.
	Apply func(entries map[string][]byte) error
	// Status, when set, is reported with each call.
	Status func() Status
	// StaleAfter (DefaultStaleAfter when zero), RetryEvery (DefaultRetryEvery) and Wait
	// (DefaultWait: how long one long poll may wait at the leader).
	StaleAfter, RetryEvery, Wait time.Duration
	Client                       *http.Client
	Logger                       *slog.Logger
}

// applied describes the state a worker serves.
type applied struct {
	Digest string `json:"digest"`
	Count  int    `json:"count"`
	From   int64  `json:"from"` // X-Data-From, Unix ms
	Seq    uint64 `json:"seq"`
	Epoch  string `json:"epoch"`
	Leader string `json:"leader"`
}

// Worker follows a leader: it long-polls GET /api/cluster/state, checks count and digest,
// refuses stale states, applies new ones and keeps the last one on disk. Create it with
// NewWorker; Run until the context ends. Its methods are safe for concurrent use.
type Worker struct {
	opts   WorkerOptions
	log    *slog.Logger
	base   *url.URL
	client *http.Client

	mu  sync.Mutex // guards cur
	cur applied

	fetches, refusals, applies atomic.Uint64
	lastOK                     atomic.Int64 // Unix ms of the last successful call to the leader
	workers                    atomic.Int64 // the leader's Torii-Cluster-Workers
}

// Workers returns the number of workers the leader last reported alive (at least 1).
func (w *Worker) Workers() int { return int(max(w.workers.Load(), 1)) }

// NewWorker checks the options and returns a worker.
func NewWorker(opts WorkerOptions) (*Worker, error) {
	u, err := url.Parse(opts.Leader)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--leader must be an http(s)://host:port URL, not %q", opts.Leader)
	}
	if opts.Apply == nil {
		return nil, errors.New("cluster: WorkerOptions.Apply is required")
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = DefaultRetryEvery
	}
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	w := &Worker{opts: opts, log: opts.Logger, base: u, client: opts.Client}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.client == nil {
		// No overall timeout: a long poll lasts up to Wait; each call gets its own deadline.
		w.client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 2,
			ResponseHeaderTimeout: opts.Wait + 10*time.Second}}
	}
	return w, nil
}

// StateFrom returns the X-Data-From of the state served (Unix ms, 0: none).
func (w *Worker) StateFrom() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur.From
}

// LastContact returns when the leader last answered (zero: never).
func (w *Worker) LastContact() time.Time {
	if ms := w.lastOK.Load(); ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}

// LoadSaved applies the state kept in DataDir, so that the worker serves while the leader is
// down. It reports whether there was one. A saved state that fails its digest is an error.
func (w *Worker) LoadSaved() (bool, error) {
	if w.opts.DataDir == "" {
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(w.opts.DataDir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot read the saved cluster state: %w", err)
	}
	head, body, ok := bytes.Cut(b, []byte("\n"))
	var meta applied
	if !ok || json.Unmarshal(head, &meta) != nil {
		return false, fmt.Errorf("%w: the saved cluster state %s has no metadata line", ErrBadState, StateFile)
	}
	entries, err := DecodeState(bytes.NewReader(body), meta.Count, meta.Digest)
	if err != nil {
		return false, fmt.Errorf("the saved cluster state is damaged: %w", err)
	}
	if err := w.opts.Apply(entries); err != nil {
		return false, fmt.Errorf("the saved cluster state does not compile: %w", err)
	}
	w.mu.Lock()
	w.cur = meta
	w.mu.Unlock()
	w.log.Info("serving the saved cluster state until the leader answers", "count", meta.Count,
		"from", time.UnixMilli(meta.From).UTC().Format(time.RFC3339))
	return true, nil
}

// Run follows the leader until ctx is done: a long poll after each answer, a pause of
// RetryEvery after each failure.
func (w *Worker) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := w.FetchOnce(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("cluster state not updated from the leader", "leader", w.base.Redacted(), "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(w.opts.RetryEvery):
			}
		}
	}
}

// FetchOnce makes one call to GET /api/cluster/state: a long poll when a state is held, else a
// plain read. It applies a new valid state and returns nil, also when nothing changed.
func (w *Worker) FetchOnce(ctx context.Context) error {
	w.mu.Lock()
	cur := w.cur
	w.mu.Unlock()
	q := url.Values{"budget": {strconv.FormatInt(w.opts.Wait.Milliseconds(), 10)}}
	if cur.Epoch != "" {
		q.Set("seq", strconv.FormatUint(cur.Seq, 10))
		q.Set("epoch", cur.Epoch)
		q.Set("wait", w.opts.Wait.String())
	}
	u := w.base.JoinPath("/api/cluster/state")
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, w.opts.Wait+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("cannot build the state request: %w", err)
	}
	w.headers(req.Header)
	req.Header.Set("Accept", "application/x-ndjson")
	req.Header.Set("Accept-Encoding", "gzip")
	w.fetches.Add(1)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the leader: %w", err)
	}
	defer resp.Body.Close()
	if n, err := strconv.Atoi(resp.Header.Get(HeaderWorkers)); err == nil && n > 0 {
		w.workers.Store(int64(n))
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		w.lastOK.Store(time.Now().UnixMilli())
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w (HTTP %d)", ErrUnauthorized, resp.StatusCode)
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("the leader answered HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	w.lastOK.Store(time.Now().UnixMilli())
	next, err := w.check(resp.Header, cur)
	if err != nil {
		w.refusals.Add(1)
		return err
	}
	var body io.Reader = resp.Body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := newGzipReader(resp.Body)
		if err != nil {
			w.refusals.Add(1)
			return fmt.Errorf("%w: the body is not gzip: %v", ErrBadState, err)
		}
		body = zr
	}
	var raw bytes.Buffer
	entries, err := DecodeState(io.TeeReader(body, &raw), next.Count, next.Digest)
	if err != nil {
		w.refusals.Add(1)
		return err
	}
	if next.Digest == cur.Digest && cur.Digest != "" {
		w.setCur(next) // same content, newer stamp
		return nil
	}
	if err := w.opts.Apply(entries); err != nil {
		w.refusals.Add(1)
		return fmt.Errorf("the leader's state was refused (the previous one keeps serving): %w", err)
	}
	w.applies.Add(1)
	w.setCur(next)
	if err := w.save(next, raw.Bytes()); err != nil {
		w.log.Warn("cluster state applied but not saved", "err", err)
	}
	return nil
}

// check reads the state headers and refuses a state older than the one held, or than
// StaleAfter.
func (w *Worker) check(h http.Header, cur applied) (applied, error) {
	count, err := parseCount(h.Get(HeaderDataCount))
	if err != nil {
		return applied{}, err
	}
	next := applied{Count: count, Digest: h.Get(HeaderDataDigest), Epoch: h.Get(HeaderEpoch), Leader: h.Get(HeaderLeaderName)}
	if s := h.Get(HeaderDataFrom); s != "" {
		if next.From, err = strconv.ParseInt(s, 10, 64); err != nil {
			return applied{}, fmt.Errorf("%w: X-Data-From %q is not Unix milliseconds", ErrBadState, s)
		}
	}
	next.Seq, _ = strconv.ParseUint(h.Get(HeaderStateSeq), 10, 64)
	if age := time.Since(time.UnixMilli(next.From)); next.From == 0 || age > w.opts.StaleAfter {
		return applied{}, fmt.Errorf("%w: X-Data-From is %s old (more than %s)", ErrStaleState, age.Round(time.Second), w.opts.StaleAfter)
	}
	if next.Epoch != "" && next.Epoch == cur.Epoch && next.Seq < cur.Seq {
		return applied{}, fmt.Errorf("%w: state %d is older than the state %d served", ErrStaleState, next.Seq, cur.Seq)
	}
	if next.Epoch == "" && next.From < cur.From {
		return applied{}, fmt.Errorf("%w: X-Data-From %d is older than the state served (%d)", ErrStaleState, next.From, cur.From)
	}
	return next, nil
}

func (w *Worker) setCur(a applied) {
	w.mu.Lock()
	w.cur = a
	w.mu.Unlock()
}

// save replaces StateFile: metadata line, then the state (written to a temporary file, synced,
// renamed).
func (w *Worker) save(a applied, body []byte) error {
	if w.opts.DataDir == "" {
		return nil
	}
	if err := os.MkdirAll(w.opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("cannot create --data-dir: %w", err)
	}
	meta, _ := json.Marshal(a)
	var buf bytes.Buffer
	buf.Grow(len(meta) + 1 + len(body))
	buf.Write(meta)
	buf.WriteByte('\n')
	buf.Write(body)
	// The state holds secrets (API key secrets): owner-only.
	return writePrivate(filepath.Join(w.opts.DataDir, StateFile), buf.Bytes())
}

// headers sets the Otoroshi worker headers, Torii's status headers and the cluster key.
func (w *Worker) headers(h http.Header) {
	h.Set(HeaderWorkerID, w.opts.ID)
	h.Set(HeaderWorkerName, w.opts.Name)
	h.Set(HeaderWorkerVersion, w.opts.Version)
	h.Set(HeaderWorkerLocation, w.opts.Location)
	h.Set(HeaderWorkerHTTPPort, strconv.Itoa(w.opts.HTTPPort))
	h.Set(HeaderWorkerStateFrom, strconv.FormatInt(w.StateFrom(), 10))
	if w.opts.Status != nil {
		st := w.opts.Status()
		h.Set(HeaderWorkerLeases, strconv.FormatInt(st.Leases, 10))
		h.Set(HeaderWorkerRedisOps, strconv.FormatInt(st.RedisCalls, 10))
		h.Set(HeaderWorkerRedis, st.Redis)
	}
	h.Set("Authorization", "Basic "+basicAuth(w.opts.Key))
}

// newGzipReader is gzip.NewReader over a buffered reader.
func newGzipReader(r io.Reader) (io.Reader, error) { return gzipNewReader(bufio.NewReader(r)) }
