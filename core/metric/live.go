package metric

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Live sampling: every SampleInterval the sampler copies each route's totals
// into a small ring, so rates are computed over a sliding window of about
// one second without touching the loops.
const (
	SampleInterval = 250 * time.Millisecond
	liveWindow     = time.Second
	liveSlots      = int(liveWindow/SampleInterval) + 1
)

// Stats is one entry of /api/live, with Otoroshi's field names. Calls,
// DataIn, DataOut are totals since start; Duration and Overhead are mean
// milliseconds since start; the rates (per second), P50, P99 (milliseconds,
// bucket upper bounds) and Status cover the last WindowMs milliseconds.
type Stats struct {
	Calls                     uint64    `json:"calls"`
	DataIn                    uint64    `json:"dataIn"`
	DataOut                   uint64    `json:"dataOut"`
	Rate                      float64   `json:"rate"`
	Duration                  float64   `json:"duration"`
	Overhead                  float64   `json:"overhead"`
	DataInRate                float64   `json:"dataInRate"`
	DataOutRate               float64   `json:"dataOutRate"`
	ConcurrentHandledRequests int64     `json:"concurrentHandledRequests"`
	P50                       float64   `json:"p50"`
	P99                       float64   `json:"p99"`
	Status                    StatusMix `json:"status"`
	WindowMs                  float64   `json:"windowMs"`
}

// StatusMix counts answered requests by status class over a window.
type StatusMix struct {
	S1xx  uint64 `json:"1xx"`
	S2xx  uint64 `json:"2xx"`
	S3xx  uint64 `json:"3xx"`
	S4xx  uint64 `json:"4xx"`
	S5xx  uint64 `json:"5xx"`
	Other uint64 `json:"other"`
}

// liveSnap is the part of a route's totals that live statistics need.
type liveSnap struct {
	at       time.Time
	class    [numClasses]uint64
	dataIn   uint64
	dataOut  uint64
	ovSum    uint64 // ns
	inFlight int64
	total    histSnapshot
}

func (s *liveSnap) calls() uint64 { return s.total.count() }

func (s *liveSnap) addRoute(r *routeSnapshot) {
	for c := range s.class {
		s.class[c] += r.class[c]
	}
	s.dataIn += r.dataIn
	s.dataOut += r.dataOut
	s.ovSum += r.overhead[histSumIndex]
	s.inFlight += r.inFlight
	for i := range s.total {
		s.total[i] += r.total[i]
	}
}

// liveHistory is a ring of the last liveSlots samples, newest at pos-1.
type liveHistory struct {
	ring [liveSlots]liveSnap
	n    int // samples stored, ≤ liveSlots
	pos  int // next slot to write
}

func (h *liveHistory) push(s *liveSnap) {
	h.ring[h.pos] = *s
	h.pos = (h.pos + 1) % liveSlots
	if h.n < liveSlots {
		h.n++
	}
}

// window returns the newest sample and the oldest one at most liveWindow
// before it (or the oldest stored); ok is false when fewer than one sample.
func (h *liveHistory) window() (newest, oldest *liveSnap, ok bool) {
	if h.n == 0 {
		return nil, nil, false
	}
	newest = &h.ring[(h.pos-1+liveSlots)%liveSlots]
	oldest = newest
	for k := 2; k <= h.n; k++ {
		s := &h.ring[(h.pos-k+liveSlots)%liveSlots]
		if newest.at.Sub(s.at) > liveWindow+SampleInterval/2 {
			break
		}
		oldest = s
	}
	return newest, oldest, true
}

// statsBetween computes Stats from cur, with the windowed fields over (prev, cur].
// prev may equal cur (zero window: rates are 0).
func statsBetween(cur, prev *liveSnap) Stats {
	calls := cur.calls()
	st := Stats{
		Calls:                     calls,
		DataIn:                    cur.dataIn,
		DataOut:                   cur.dataOut,
		ConcurrentHandledRequests: cur.inFlight,
	}
	if calls > 0 {
		st.Duration = float64(cur.total[histSumIndex]) / float64(calls) / 1e6
		st.Overhead = float64(cur.ovSum) / float64(calls) / 1e6
	}
	win := cur.at.Sub(prev.at)
	st.WindowMs = float64(win) / 1e6
	d := cur.total.sub(&prev.total)
	st.P50 = float64(d.quantile(0.50)) / 1e6
	st.P99 = float64(d.quantile(0.99)) / 1e6
	st.Status = StatusMix{
		S1xx: cur.class[class1xx] - prev.class[class1xx], S2xx: cur.class[class2xx] - prev.class[class2xx],
		S3xx: cur.class[class3xx] - prev.class[class3xx], S4xx: cur.class[class4xx] - prev.class[class4xx],
		S5xx: cur.class[class5xx] - prev.class[class5xx], Other: cur.class[classOther] - prev.class[classOther],
	}
	if win > 0 {
		sec := win.Seconds()
		st.Rate = float64(calls-prev.calls()) / sec
		st.DataInRate = float64(cur.dataIn-prev.dataIn) / sec
		st.DataOutRate = float64(cur.dataOut-prev.dataOut) / sec
	}
	return st
}

// Live aggregates a Set's route metrics into /api/live statistics, globally
// and per route. Run its sampler with Run; read with Stats and ServeLive.
// Use one Live per Set. Safe for concurrent use.
type Live struct {
	set    *Set
	mu     sync.Mutex // guards global and every RouteMetrics.live
	global liveHistory

	// sampler scratch, reused so that sampling produces no garbage
	routes []*RouteMetrics
	snaps  []liveSnap
}

// NewLive returns a Live over set. Nothing is sampled until Run starts.
func NewLive(set *Set) *Live { return &Live{set: set} }

// Run samples every SampleInterval until ctx is done. It blocks.
func (l *Live) Run(ctx context.Context) {
	t := time.NewTicker(SampleInterval)
	defer t.Stop()
	l.sample(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			l.sample(now)
		}
	}
}

// sample takes one sample of every route and of the global sum at now.
// Only the sampler goroutine (or a test) calls it.
func (l *Live) sample(now time.Time) {
	l.routes = l.set.appendAllRoutes(l.routes[:0])
	routes := l.routes
	global := liveSnap{at: now}
	l.snaps = slices.Grow(l.snaps[:0], len(routes))[:len(routes)]
	snaps := l.snaps
	for i, m := range routes {
		rs := m.snapshot()
		snaps[i] = liveSnap{at: now}
		snaps[i].addRoute(&rs)
		global.addRoute(&rs)
	}
	l.mu.Lock()
	for i, m := range routes {
		if d := m.data.Load(); d != nil { // no history for a route without traffic: it reads zero
			d.live.push(&snaps[i])
		}
	}
	l.global.push(&global)
	l.mu.Unlock()
}

// Stats returns the live statistics of routeID, or of all routes when
// routeID is "" or "global". Windowed fields cover about the last second of
// samples (zero until the sampler has run twice). ErrUnknownRoute if no
// metrics exist for routeID.
func (l *Live) Stats(routeID string) (Stats, error) {
	var h *liveHistory
	if routeID == "" || routeID == "global" {
		h = &l.global
	} else {
		m := l.set.lookup(routeID)
		if m == nil {
			return Stats{}, ErrUnknownRoute
		}
		d := m.data.Load()
		if d == nil { // no request yet: no history
			s := l.current(routeID, time.Now())
			return statsBetween(&s, &s), nil
		}
		h = &d.live
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, prev, ok := h.window()
	if !ok {
		s := l.current(routeID, time.Now())
		return statsBetween(&s, &s), nil
	}
	return statsBetween(cur, prev), nil
}

// current sums the metrics of routeID (or all routes) right now, bypassing
// the sampler. The route is assumed to exist (an unknown one reads as zero).
func (l *Live) current(routeID string, now time.Time) liveSnap {
	s := liveSnap{at: now}
	if routeID == "" || routeID == "global" {
		for _, m := range l.set.allRoutes() {
			rs := m.snapshot()
			s.addRoute(&rs)
		}
		return s
	}
	if m := l.set.lookup(routeID); m != nil {
		rs := m.snapshot()
		s.addRoute(&rs)
	}
	return s
}

// StatsAll returns the global statistics and those of every exported route,
// by route id, from the sampler's history (windowed fields are zero for a
// route until it has two samples; totals are then read directly).
func (l *Live) StatsAll() (global Stats, routes map[string]Stats) {
	global, _ = l.Stats("")
	ms := l.set.Routes()
	routes = make(map[string]Stats, len(ms))
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range ms {
		var cur, prev *liveSnap
		ok := false
		if d := m.data.Load(); d != nil {
			cur, prev, ok = d.live.window()
		}
		if !ok {
			now := liveSnap{at: time.Now()}
			rs := m.snapshot()
			now.addRoute(&rs)
			cur, prev = &now, &now
		}
		routes[m.id] = statsBetween(cur, prev)
	}
	return global, routes
}
