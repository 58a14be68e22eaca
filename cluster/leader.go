package cluster

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torii-gateway/torii/core/quota"
)

// Protocol headers, as Otoroshi's leader and workers name them (cluster.scala,
// ClusterController.scala), and Torii's extensions (Torii-*).
const (
	HeaderDataCount     = "X-Data-Count"
	HeaderDataDigest    = "X-Data-Digest"
	HeaderDataFrom      = "X-Data-From"
	HeaderLeaderName    = "Otoroshi-Leader-Node-Name"
	HeaderLeaderVersion = "Otoroshi-Leader-Node-Version"

	HeaderWorkerID       = "Otoroshi-Worker-Id"
	HeaderWorkerName     = "Otoroshi-Worker-Name"
	HeaderWorkerVersion  = "Otoroshi-Worker-Version"
	HeaderWorkerLocation = "Otoroshi-Worker-Location"
	HeaderWorkerHTTPPort = "Otoroshi-Worker-Http-Port"

	// HeaderStateSeq numbers the leader's states (one more per change) within one HeaderEpoch;
	// a worker sends back the pair it holds (?seq=&epoch=) to long-poll for the next one.
	HeaderStateSeq = "Torii-State-Seq"
	HeaderEpoch    = "Torii-Leader-Epoch"
	// Worker status, reported on each call for GET /api/cluster/members and the metrics.
	HeaderWorkerStateFrom = "Torii-Worker-State-From"
	HeaderWorkerLeases    = "Torii-Worker-Leases"
	HeaderWorkerRedis     = "Torii-Worker-Redis"
	HeaderWorkerRedisOps  = "Torii-Worker-Redis-Calls"
	// HeaderWorkers is the number of workers the leader sees alive (at least 1): a worker
	// divides the quotas by it while Redis is unreachable (fail open) and to size its leases.
	HeaderWorkers = "Torii-Cluster-Workers"
	// HeaderQuotaSince, on PUT /api/cluster/quotas, is the leader's quota change number the
	// worker last received; the answer carries the current one and the counts of every key
	// changed since.
	HeaderQuotaSince = "Torii-Quota-Since"
)

// Long-poll bounds: a worker waits at most MaxWait for a change (DefaultWait when it does not
// say), then polls again; every return is also its heartbeat.
const (
	DefaultWait = 10 * time.Second
	MaxWait     = 30 * time.Second
)

// Source is what the leader serves: the admin API's state and its admin key.
type Source interface {
	// ClusterEntries calls fn for every stored entity (Otoroshi storage key, JSON).
	ClusterEntries(fn func(key string, raw []byte))
	// VerifyAdminKey reports whether id and secret are the admin API key.
	VerifyAdminKey(id, secret string) bool
	// AdminSession reports whether r carries the admin UI's session (GET /api/cluster/members
	// accepts it, for the UI's Cluster page; the state never does).
	AdminSession(r *http.Request) bool
	// ClusterAuth counts the outcome of a key check against the caller's address, with the
	// admin API's limit: blocked says the address made too many failures (refuse it, 429).
	ClusterAuth(r *http.Request, ok bool) (blocked bool, retryAfter time.Duration)
}

// LeaderOptions configure NewLeader.
type LeaderOptions struct {
	// Source is the admin API (required before the first request; see SetSource).
	Source Source
	// Key is the cluster key workers use (besides the admin key, which also works).
	Key Key
	// Name and Version are sent as Otoroshi-Leader-Node-Name and -Version.
	Name, Version string
	// Quotas receives the call increments workers push with PUT /api/cluster/quotas (nil: the
	// increments are read and dropped).
	Quotas *quota.Counters
	Logger *slog.Logger
}

// published is one state as served, with the channel closed when a newer one replaces it.
type published struct {
	seq     uint64
	st      *State
	changed chan struct{}
}

// Leader serves the cluster endpoints of the leader role: GET /api/cluster/state (with long
// poll), PUT /api/cluster/quotas and GET /api/cluster/members. Create it with NewLeader, call
// Refresh after every published change (and Run for the periodic safety refresh). Safe for
// concurrent use.
type Leader struct {
	opts    LeaderOptions
	src     atomic.Pointer[sourceBox]
	log     *slog.Logger
	key     verifier
	epoch   string
	cur     atomic.Pointer[published]
	refresh chan struct{}
	mu      sync.Mutex // serializes rebuilds
	members members

	refused atomic.Uint64 // requests refused for their key

	// Quota pushes (no-Redis mode): the change number of each key pushed with calls, so that a
	// worker learns the counts of keys it has not served (HeaderQuotaSince).
	qmu      sync.Mutex
	qseq     uint64
	qchanges map[string]uint64
}

type sourceBox struct{ Source }

// NewLeader returns a leader; its first state is built by the first Refresh.
func NewLeader(opts LeaderOptions) *Leader {
	l := &Leader{opts: opts, log: opts.Logger, key: newVerifier(opts.Key), epoch: randomHex(8),
		refresh: make(chan struct{}, 1)}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.opts.Name == "" {
		l.opts.Name = "torii-leader"
	}
	l.members.init()
	l.cur.Store(&published{changed: make(chan struct{})})
	if opts.Source != nil {
		l.SetSource(opts.Source)
	}
	return l
}

// SetSource sets the state source (the admin API, created after the leader because it needs
// the leader's handler). Safe from any goroutine.
func (l *Leader) SetSource(s Source) { l.src.Store(&sourceBox{s}) }

// Changed asks for a rebuild of the state; it never blocks (the admin calls it from Publish,
// with its writer lock held). Run performs the rebuild.
func (l *Leader) Changed() {
	select {
	case l.refresh <- struct{}{}:
	default:
	}
}

// RefreshEvery is the period of the safety rebuild of Run: a change whose notification was
// missed reaches the workers this late at worst.
const RefreshEvery = 5 * time.Second

// Run rebuilds the state on every Changed and every RefreshEvery, until ctx is done.
func (l *Leader) Run(ctx context.Context) {
	t := time.NewTicker(RefreshEvery)
	defer t.Stop()
	for {
		if err := l.Refresh(); err != nil {
			l.log.Error("cluster state not rebuilt", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.refresh:
		case <-t.C:
		}
	}
}

// Refresh rebuilds the state from the source; when its digest changed, the new state gets the
// next sequence number and wakes every long-polling worker.
func (l *Leader) Refresh() error {
	box := l.src.Load()
	if box == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var entries []Entry
	box.ClusterEntries(func(key string, raw []byte) { entries = append(entries, Entry{Key: key, Raw: raw}) })
	st, err := EncodeState(entries)
	if err != nil {
		return err
	}
	old := l.cur.Load()
	if old.st != nil && old.st.Digest == st.Digest {
		return nil
	}
	l.cur.Store(&published{seq: old.seq + 1, st: st, changed: make(chan struct{})})
	close(old.changed)
	metricStateBuilt.Inc()
	return nil
}

// ServeHTTP serves /api/cluster/*.
func (l *Leader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /api/cluster/state", "HEAD /api/cluster/state", "PUT /api/cluster/quotas", "GET /api/cluster/members":
	default:
		if strings.HasPrefix(r.URL.Path, "/api/cluster/") && (r.URL.Path == "/api/cluster/state" ||
			r.URL.Path == "/api/cluster/quotas" || r.URL.Path == "/api/cluster/members") {
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
			return
		}
		writeError(w, http.StatusNotFound, "no cluster endpoint "+r.URL.Path)
		return
	}
	ok, blocked, wait := l.authorized(r)
	if blocked {
		metricRefused.Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "too many failed authentications from this address")
		return
	}
	ok = ok || (route == "GET /api/cluster/members" && l.adminSession(r))
	if !ok {
		l.refused.Add(1)
		metricRefused.Inc()
		l.log.Info("cluster request refused: no or wrong cluster key", "from", r.RemoteAddr, "path", r.URL.Path)
		if r.Header.Get("X-Requested-With") == "" { // the UI asks for no browser login dialog
			w.Header().Set("WWW-Authenticate", `Basic realm="torii cluster"`)
		}
		writeError(w, http.StatusUnauthorized, "a cluster key (or the admin API key) is required")
		return
	}
	switch route {
	case "GET /api/cluster/state", "HEAD /api/cluster/state":
		l.members.seen(r, time.Now())
		l.serveState(w, r)
	case "PUT /api/cluster/quotas":
		l.members.seen(r, time.Now())
		l.serveQuotas(w, r)
	case "GET /api/cluster/members":
		writeJSON(w, http.StatusOK, l.members.list(time.Now()))
	}
}

// authorized checks the caller's key: Basic auth, or Otoroshi-Client-Id and -Secret.
//
// A request naming the cluster key's client id is checked against it alone: a 256-bit random
// secret needs no attempt limit, and workers sharing an address with a misbehaving client are
// never locked out. Any other credentials are the admin key's, with the admin API's failure
// accounting (blocked: too many failures from this address, refused even with the right key),
// so the cluster endpoints offer no way around its brute-force protection.
func (l *Leader) authorized(r *http.Request) (ok, blocked bool, retryAfter time.Duration) {
	id, secret, found := r.BasicAuth()
	if !found {
		id, secret = r.Header.Get("Otoroshi-Client-Id"), r.Header.Get("Otoroshi-Client-Secret")
		if id == "" || secret == "" {
			return false, false, 0
		}
	}
	if l.opts.Key.ClientID != "" && id == l.opts.Key.ClientID {
		return l.key.verify(id, secret), false, 0
	}
	box := l.src.Load()
	if box == nil {
		return false, false, 0
	}
	ok = box.VerifyAdminKey(id, secret)
	blocked, retryAfter = box.ClusterAuth(r, ok)
	return ok && !blocked, blocked, retryAfter
}

func (l *Leader) adminSession(r *http.Request) bool {
	box := l.src.Load()
	return box != nil && box.AdminSession(r)
}

// serveState answers the current state, or, when the worker long-polls (?seq=N&epoch=E naming
// the state it holds), waits until there is a newer one; after the wait with nothing new it
// answers 304 with the headers only.
func (l *Leader) serveState(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := l.cur.Load()
	if p.st == nil {
		writeError(w, http.StatusServiceUnavailable, "the leader has no state yet")
		return
	}
	if seqArg := q.Get("seq"); seqArg != "" && q.Get("epoch") == l.epoch {
		seq, err := strconv.ParseUint(seqArg, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "seq must be a state sequence number, not "+strconv.Quote(seqArg))
			return
		}
		wait := DefaultWait
		if s := q.Get("wait"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				writeError(w, http.StatusBadRequest, "wait must be a duration such as 10s, not "+strconv.Quote(s))
				return
			}
			wait = min(d, MaxWait)
		}
		if seq == p.seq {
			t := time.NewTimer(wait)
			select {
			case <-p.changed:
				t.Stop()
				p = l.cur.Load()
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if seq == p.seq {
			l.stateHeaders(w, p)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	l.stateHeaders(w, p)
	w.Header().Set("Content-Type", "application/x-ndjson")
	body := p.st.Body
	if acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		body = p.st.Gzip
	}
	w.Header().Set("Vary", "Accept-Encoding")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	metricStateServed.Inc()
}

func (l *Leader) stateHeaders(w http.ResponseWriter, p *published) {
	h := w.Header()
	h.Set(HeaderLeaderName, l.opts.Name)
	h.Set(HeaderLeaderVersion, l.opts.Version)
	h.Set(HeaderDataCount, strconv.Itoa(p.st.Count))
	h.Set(HeaderDataDigest, p.st.Digest)
	// The leader serves its live state: it is current as of this response.
	h.Set(HeaderDataFrom, strconv.FormatInt(time.Now().UnixMilli(), 10))
	h.Set(HeaderStateSeq, strconv.FormatUint(p.seq, 10))
	h.Set(HeaderEpoch, l.epoch)
	h.Set(HeaderWorkers, strconv.Itoa(max(l.members.alive(time.Now()), 1)))
	h.Set("Cache-Control", "no-store")
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") {
			return true
		}
	}
	return false
}

// maxQuotaBody caps PUT /api/cluster/quotas: a push carries one short line per key counted
// since the last push.
const maxQuotaBody = 16 << 20

// quotaLine is one line of PUT /api/cluster/quotas: Otoroshi's ApikeyCallIncr
// ({"typ":"apkincr","apk":clientId,"i":calls}); other types (globstats, srvincr...) are
// accepted and ignored.
type quotaLine struct {
	Typ string `json:"typ"`
	Apk string `json:"apk"`
	I   int64  `json:"i"`
}

// countLine is one line of the answer to PUT /api/cluster/quotas (a Torii extension: an
// Otoroshi worker ignores the body): the key's counts on the leader after the push.
type countLine struct {
	Typ   string `json:"typ"` // "apkcount"
	Apk   string `json:"apk"`
	Win   int64  `json:"w"`
	Day   int64  `json:"d"`
	Month int64  `json:"m"`
}

// serveQuotas applies the call increments a worker pushes (NDJSON, gzip when Content-Encoding
// says so) to the leader's counters and answers each key's counts.
func (l *Leader) serveQuotas(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxQuotaBody)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "the body is not gzip: "+err.Error())
			return
		}
		body = io.LimitReader(zr, maxQuotaBody)
	}
	now := time.Now()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 4096), 1<<20)
	var out []byte
	sent := make(map[string]bool)
	n := 0
	for sc.Scan() {
		n++
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var ql quotaLine
		if err := json.Unmarshal(sc.Bytes(), &ql); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("line %d is not a JSON object: %v", n, err))
			return
		}
		if ql.Typ != "apkincr" || ql.Apk == "" {
			continue
		}
		if ql.I < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("line %d: field i must not be negative, got %d", n, ql.I))
			return
		}
		if l.opts.Quotas == nil {
			continue
		}
		u := l.opts.Quotas.Add(ql.Apk, ql.I, now)
		if ql.I > 0 {
			l.quotaChanged(ql.Apk)
		}
		sent[ql.Apk] = true
		b, _ := json.Marshal(countLine{Typ: "apkcount", Apk: ql.Apk, Win: u.Win, Day: u.Day, Month: u.Month})
		out = append(append(out, b...), '\n')
	}
	if err := sc.Err(); err != nil {
		writeError(w, http.StatusBadRequest, "cannot read the increments: "+err.Error())
		return
	}
	// The keys other workers counted since this worker's last push (Torii-Quota-Since), so that
	// it adopts the counts of keys it has not served yet.
	since, _ := strconv.ParseUint(r.Header.Get(HeaderQuotaSince), 10, 64)
	seq, changed := l.quotaChangesSince(since)
	if l.opts.Quotas != nil {
		for _, id := range changed {
			if sent[id] {
				continue
			}
			u := l.opts.Quotas.Add(id, 0, now)
			b, _ := json.Marshal(countLine{Typ: "apkcount", Apk: id, Win: u.Win, Day: u.Day, Month: u.Month})
			out = append(append(out, b...), '\n')
		}
	}
	w.Header().Set(HeaderQuotaSince, strconv.FormatUint(seq, 10))
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// quotaChanged records that id's counts changed (a pushed increment).
func (l *Leader) quotaChanged(id string) {
	l.qmu.Lock()
	l.qseq++
	if l.qchanges == nil {
		l.qchanges = make(map[string]uint64)
	}
	l.qchanges[id] = l.qseq
	l.qmu.Unlock()
}

// quotaChangesSince returns the current change number and the keys changed after since.
func (l *Leader) quotaChangesSince(since uint64) (uint64, []string) {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	var ids []string
	for id, s := range l.qchanges {
		if s > since {
			ids = append(ids, id)
		}
	}
	return l.qseq, ids
}

// writeError answers Otoroshi's admin API error shape, {"error": "..."}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
