package metric

import (
	"sync/atomic"
	"time"
)

// cacheLine is the padding unit that keeps two loops' shards apart.
const cacheLine = 64

// Status classes, indexes into shardData.class.
const (
	class1xx = iota
	class2xx
	class3xx
	class4xx
	class5xx
	classOther // status outside 100..599 (0: no response was sent)
	numClasses
)

var classNames = [numClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

func classOf(status int) int {
	if status >= 100 && status < 600 {
		return status/100 - 1
	}
	return classOther
}

// shardData is what one event loop writes for one route.
type shardData struct {
	class         [numClasses]atomic.Uint64
	dataIn        atomic.Uint64
	dataOut       atomic.Uint64
	quotaRejected atomic.Uint64
	inFlight      atomic.Int64
	total         hist
	backend       hist
	overhead      hist
}

// shard is followed by a full cache line of padding: whatever the slice's
// alignment, two loops' counters never share a line.
type shard struct {
	shardData
	_ [cacheLine]byte
}

// RouteMetrics holds the counters and histograms of one route, sharded per
// event loop. Create it with Set.Route off the loop; record into it from the
// loop. The recording methods are safe for concurrent use; they allocate
// once, on a route's first request: the shards and the live history (about
// 1 KiB per event loop) exist only for routes that had traffic, so a
// configuration of 100k routes of which a few thousand are called does not
// hold 100k of them.
type RouteMetrics struct {
	id   string
	n    int // shards to allocate: a power of two
	data atomic.Pointer[routeData]
}

// routeData is what a route that had traffic records into.
type routeData struct {
	shards []shard
	mask   int         // len(shards)-1
	live   liveHistory // guarded by Live.mu
}

func newRouteMetrics(id string, shards int) *RouteMetrics {
	n := 1
	for n < shards {
		n <<= 1
	}
	return &RouteMetrics{id: id, n: n}
}

// rec returns the route's data, allocating it at the first request.
func (m *RouteMetrics) rec() *routeData {
	if d := m.data.Load(); d != nil {
		return d
	}
	return m.alloc()
}

// alloc installs the route's data; of two loops racing, one's is kept.
func (m *RouteMetrics) alloc() *routeData {
	d := &routeData{shards: make([]shard, m.n), mask: m.n - 1}
	if m.data.CompareAndSwap(nil, d) {
		return d
	}
	return m.data.Load()
}

// shard returns the shard of loop.
func (m *RouteMetrics) shard(loop int) *shard {
	d := m.rec()
	return &d.shards[loop&d.mask]
}

// ID returns the route id the metrics were created for.
func (m *RouteMetrics) ID() string { return m.id }

// Begin counts one more request in flight on the route. Pair it with Done.
func (m *RouteMetrics) Begin(loop int) {
	m.shard(loop).inFlight.Add(1)
}

// Abandon ends a request started with Begin without recording it: the
// request was parked and begins again later.
func (m *RouteMetrics) Abandon(loop int) {
	m.shard(loop).inFlight.Add(-1)
}

// Done ends a request started with Begin and records its outcome: the status
// sent to the client (0 if none), bytes read from the client and written to
// it, and the total, backend and overhead (total minus backend) durations.
// It costs a few uncontended atomic adds.
func (m *RouteMetrics) Done(loop, status int, dataIn, dataOut int64, total, backend, overhead time.Duration) {
	s := m.shard(loop)
	s.inFlight.Add(-1)
	s.class[classOf(status)].Add(1)
	if dataIn > 0 {
		s.dataIn.Add(uint64(dataIn))
	}
	if dataOut > 0 {
		s.dataOut.Add(uint64(dataOut))
	}
	s.total.observe(int64(total))
	s.backend.observe(int64(backend))
	s.overhead.observe(int64(overhead))
}

// QuotaRejected counts one request refused because an API key quota was exceeded.
func (m *RouteMetrics) QuotaRejected(loop int) {
	m.shard(loop).quotaRejected.Add(1)
}

// routeSnapshot is the sum of a route's shards at one instant.
type routeSnapshot struct {
	class         [numClasses]uint64
	dataIn        uint64
	dataOut       uint64
	quotaRejected uint64
	inFlight      int64
	total         histSnapshot
	backend       histSnapshot
	overhead      histSnapshot
}

// add sums the shards of m into s (nothing for a route without traffic).
func (s *routeSnapshot) add(m *RouteMetrics) {
	d := m.data.Load()
	if d == nil {
		return
	}
	for i := range d.shards {
		sh := &d.shards[i]
		for c := range sh.class {
			s.class[c] += sh.class[c].Load()
		}
		s.dataIn += sh.dataIn.Load()
		s.dataOut += sh.dataOut.Load()
		s.quotaRejected += sh.quotaRejected.Load()
		s.inFlight += sh.inFlight.Load()
		s.total.add(&sh.total)
		s.backend.add(&sh.backend)
		s.overhead.add(&sh.overhead)
	}
}

func (m *RouteMetrics) snapshot() routeSnapshot {
	var s routeSnapshot
	s.add(m)
	return s
}
