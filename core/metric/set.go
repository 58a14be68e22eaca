package metric

import (
	"bytes"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// Set is the process's metric registry: pre-registered route metrics, plain
// counters and gauges (backed by a VictoriaMetrics metrics.Set), gauge
// families computed by callbacks, and the Go runtime and process metrics.
// Create one per process with NewSet. All methods are safe for concurrent use.
type Set struct {
	vm      *metrics.Set
	shards  int
	process atomic.Bool

	mu     sync.Mutex
	routes map[string]*RouteMetrics // every route ever created, by id
	// active are the exported routes (under mu); sorted is them sorted by id, made by
	// Routes when nil, so that a route write changes a map entry instead of re-sorting
	// every route.
	active map[string]*RouteMetrics
	sorted atomic.Pointer[[]*RouteMetrics]
	vecs   []gaugeVec
	funcs  []funcFamily // CounterFunc and GaugeFunc members, by family (help.go)

	// Route series cardinality (series.go): the cap, and the routes given a
	// series of their own with the scrape that last saw them.
	seriesMax atomic.Int64
	scrapeMu  sync.Mutex
	shown     map[string]uint64
	scrapes   uint64
}

// gaugeVec is a gauge family whose members are produced by a callback at write time.
type gaugeVec struct {
	name, help string
	typ        string // "gauge" or "counter"
	labels     []string
	collect    func(emit func(value float64, labelValues ...string))
}

// NewSet returns a Set whose route metrics are sharded for loops event loops
// (at least 1). Go runtime and process metrics are written by default.
func NewSet(loops int) *Set {
	if loops < 1 {
		loops = 1
	}
	s := &Set{vm: metrics.NewSet(), shards: loops, routes: make(map[string]*RouteMetrics), active: make(map[string]*RouteMetrics)}
	s.process.Store(true)
	s.seriesMax.Store(DefaultRouteSeriesMax)
	return s
}

// ExposeProcessMetrics turns the go_* and process_* families on or off.
func (s *Set) ExposeProcessMetrics(on bool) { s.process.Store(on) }

// NoRouteID is the route label for requests that matched no route (404) or
// were refused before routing: record them in Set.Route(NoRouteID), which
// SyncRoutes never prunes.
const NoRouteID = "_none"

// Route returns the metrics of route id, creating them on first use. The
// same id always gets the same *RouteMetrics, so counters survive reloads;
// a route pruned earlier is exported again. Call it off the loop, when a
// snapshot is compiled, and keep the pointer in the compiled route.
func (s *Set) Route(id string) *RouteMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.metricsOf(id)
	s.export(m)
	return m
}

// metricsOf returns the metrics of id, created on first use. s.mu is held.
func (s *Set) metricsOf(id string) *RouteMetrics {
	m := s.routes[id]
	if m == nil {
		m = newRouteMetrics(id, s.shards)
		s.routes[id] = m
	}
	return m
}

// export adds m to the exported routes. s.mu is held.
func (s *Set) export(m *RouteMetrics) {
	if s.active[m.id] == nil {
		s.active[m.id] = m
		s.sorted.Store(nil)
	}
}

// unexport stops exporting route id. s.mu is held.
func (s *Set) unexport(id string) {
	if s.active[id] != nil {
		delete(s.active, id)
		s.sorted.Store(nil)
	}
}

// SyncRoutes makes ids exactly the exported routes, creating metrics for new
// ids and keeping the counters of known ones, and returns the metrics in the
// order of ids. Call it once per compiled snapshot (off the loop); it costs
// O(n) for n routes. SyncRoutesDelta does the same for a change of a few
// routes in O(changed).
func (s *Set) SyncRoutes(ids []string) []*RouteMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*RouteMetrics, len(ids))
	active := make(map[string]*RouteMetrics, len(ids)+1)
	if m := s.routes[NoRouteID]; m != nil { // keep exporting unmatched requests
		active[NoRouteID] = m
	}
	for i, id := range ids {
		m := s.metricsOf(id)
		out[i] = m
		active[id] = m
	}
	s.active = active
	s.sorted.Store(nil)
	return out
}

// SyncRoutesDelta changes the exported routes by a route write: the routes
// removed stop being exported, then those added are (a route replaced by a
// write is in both and stays exported). It returns the metrics of added, in
// order, created on first use. It costs O(len(removed)+len(added)) whatever
// the number of routes; the next Routes call sorts them again.
func (s *Set) SyncRoutesDelta(added, removed []string) []*RouteMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range removed {
		if id != NoRouteID {
			s.unexport(id)
		}
	}
	out := make([]*RouteMetrics, len(added))
	for i, id := range added {
		out[i] = s.metricsOf(id)
		s.export(out[i])
	}
	return out
}

// PruneRoutes stops exporting the routes for which keep returns false. Their
// counters are kept, so a route that comes back resumes its totals.
func (s *Set) PruneRoutes(keep func(id string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.active {
		if !keep(id) {
			s.unexport(id)
		}
	}
}

// Routes returns the exported routes sorted by id. The slice must not be
// modified. After a change of the exported routes, the first call sorts
// them (O(n log n), on the scraping goroutine); later calls return the same
// slice.
func (s *Set) Routes() []*RouteMetrics {
	if p := s.sorted.Load(); p != nil {
		return *p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.sorted.Load(); p != nil {
		return *p
	}
	out := make([]*RouteMetrics, 0, len(s.active))
	for _, m := range s.active {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *RouteMetrics) int { return strings.Compare(a.id, b.id) })
	s.sorted.Store(&out)
	return out
}

// NewCounter registers a counter with a full Prometheus name, labels
// included (for example `torii_events_dropped_total{stage="ring"}`).
// Counter.Inc is one atomic add. It panics on an invalid or duplicate name,
// which is a programming error.
func (s *Set) NewCounter(name string) *metrics.Counter { return s.vm.NewCounter(name) }

// CounterFunc registers a counter whose value f returns at write time.
// f runs on the goroutine writing the metrics and must not block.
func (s *Set) CounterFunc(name string, f func() uint64) {
	s.addFunc(name, "counter", func() float64 { return float64(f()) })
}

// GaugeFunc registers a gauge whose value f returns at write time (active
// client connections, for example). f must not block.
func (s *Set) GaugeFunc(name string, f func() float64) { s.addFunc(name, "gauge", f) }

// GaugeVecFunc registers a gauge family whose members collect emits at write
// time, one call per member with one value per label name (upstream pool
// size and idle connections per target, circuit-breaker state per target...).
// collect must not block; it may emit nothing.
func (s *Set) GaugeVecFunc(name, help string, labelNames []string, collect func(emit func(value float64, labelValues ...string))) {
	s.mu.Lock()
	s.vecs = append(s.vecs, gaugeVec{name: name, help: help, typ: "gauge", labels: slices.Clone(labelNames), collect: collect})
	s.mu.Unlock()
}

// CounterVecFunc is GaugeVecFunc for a counter family (values only grow):
// per-exporter sent, dropped and failed events, for example.
func (s *Set) CounterVecFunc(name, help string, labelNames []string, collect func(emit func(value float64, labelValues ...string))) {
	s.mu.Lock()
	s.vecs = append(s.vecs, gaugeVec{name: name, help: help, typ: "counter", labels: slices.Clone(labelNames), collect: collect})
	s.mu.Unlock()
}

// Well-known families registered by the engine through the helpers below,
// so names stay consistent across packages.
const (
	FamClientConnections = "torii_client_connections_active"
	FamUpstreamPoolSize  = "torii_upstream_pool_connections"
	FamUpstreamPoolIdle  = "torii_upstream_pool_idle_connections"
	FamCircuitOpen       = "torii_circuit_breaker_open"
)

// RegisterClientConnections registers the gauge of open client connections;
// active is called at write time and must not block.
func (s *Set) RegisterClientConnections(active func() int64) {
	s.GaugeFunc(FamClientConnections, func() float64 { return float64(active()) })
}

// RegisterUpstreamPools registers the pooled connection gauges per target
// (label target = "host:port"): collect emits, for each target, the pool size
// (idle plus in use) and the idle count.
func (s *Set) RegisterUpstreamPools(collect func(emit func(target string, size, idle int))) {
	// Each write calls collect once per family.
	s.GaugeVecFunc(FamUpstreamPoolSize, "Upstream connections (idle and in use), by target.", []string{"target"},
		func(emit func(float64, ...string)) {
			collect(func(target string, size, _ int) { emit(float64(size), target) })
		})
	s.GaugeVecFunc(FamUpstreamPoolIdle, "Idle pooled upstream connections, by target.", []string{"target"},
		func(emit func(float64, ...string)) {
			collect(func(target string, _, idle int) { emit(float64(idle), target) })
		})
}

// RegisterCircuitBreakers registers the circuit-breaker state per route and
// target (1 open, 0 closed): collect emits one state per breaker. Only routes
// with series of their own (see SetRouteSeries) get per-target series; the
// breakers of the others are counted in one series, route="other" and
// target="", whose value is the number of them that are open.
func (s *Set) RegisterCircuitBreakers(collect func(emit func(route, target string, open bool))) {
	s.GaugeVecFunc(FamCircuitOpen, "Circuit breaker state (1 open), by route and target; route=\"other\": open breakers of routes without series.", []string{"route", "target"},
		func(emit func(float64, ...string)) {
			s.scrapeMu.Lock() // the series of the scrape that just wrote the route families
			defer s.scrapeMu.Unlock()
			otherOpen, others := 0, false
			collect(func(route, target string, open bool) {
				g, own := s.shown[route]
				if !own || g != s.scrapes {
					others = true
					if open {
						otherOpen++
					}
					return
				}
				v := 0.0
				if open {
					v = 1
				}
				emit(v, RouteLabel(route), target)
			})
			if others {
				emit(float64(otherOpen), OtherRoute, "")
			}
		})
}

// WritePrometheus writes every metric of s in the Prometheus text format:
// route families, registered counters and gauges, gauge families, then the
// Go runtime and process metrics unless turned off.
func (s *Set) WritePrometheus(w io.Writer) {
	buf := make([]byte, 0, 512)
	buf = s.writeRoutes(w, buf)
	var vm bytes.Buffer
	s.vm.WritePrometheus(&vm)
	FillHelp(w, vm.Bytes())
	buf = s.writeFuncs(w, buf)
	s.mu.Lock()
	vecs := slices.Clone(s.vecs)
	s.mu.Unlock()
	for _, v := range vecs {
		buf = v.write(w, buf)
	}
	if s.process.Load() {
		var p bytes.Buffer
		metrics.WriteProcessMetrics(&p)
		FillHelp(w, p.Bytes())
	}
}

func (v *gaugeVec) write(w io.Writer, buf []byte) []byte {
	buf = appendHeader(buf[:0], v.name, v.help, v.typ)
	v.collect(func(value float64, labelValues ...string) {
		buf = append(buf, v.name...)
		if len(v.labels) > 0 {
			buf = append(buf, '{')
			for i, l := range v.labels {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, l...)
				buf = append(buf, '=')
				lv := ""
				if i < len(labelValues) {
					lv = labelValues[i]
				}
				buf = appendLabelValue(buf, lv)
			}
			buf = append(buf, '}')
		}
		buf = append(buf, ' ')
		buf = strconv.AppendFloat(buf, value, 'g', -1, 64)
		buf = append(buf, '\n')
	})
	_, _ = w.Write(buf)
	return buf
}

func appendHeader(buf []byte, name, help, typ string) []byte {
	buf = append(buf, "# HELP "...)
	buf = append(buf, name...)
	buf = append(buf, ' ')
	buf = append(buf, help...)
	buf = append(buf, "\n# TYPE "...)
	buf = append(buf, name...)
	buf = append(buf, ' ')
	buf = append(buf, typ...)
	return append(buf, '\n')
}

// Route metric families.
const (
	famRequests = "torii_http_requests_total"
	famInFlight = "torii_http_requests_in_flight"
	famDataIn   = "torii_http_request_bytes_total"
	famDataOut  = "torii_http_response_bytes_total"
	famQuota    = "torii_quota_rejections_total"
	famTotal    = "torii_http_request_duration_seconds"
	famBackend  = "torii_http_backend_duration_seconds"
	famOverhead = "torii_http_overhead_duration_seconds"
)

// writeRoutes writes the route families, each family's members contiguous,
// for the series pickSeries chose.
func (s *Set) writeRoutes(w io.Writer, buf []byte) []byte {
	series := s.pickSeries()
	if len(series) == 0 {
		return buf
	}
	labels := make([]string, len(series))
	for i := range series {
		labels[i] = "route=" + string(appendLabelValue(nil, series[i].label))
	}
	counter := func(name, help, typ string, value func(*routeSnapshot) string) {
		buf = appendHeader(buf[:0], name, help, typ)
		for i := range series {
			buf = appendSample(buf, name, labels[i])
			buf = append(buf, value(&series[i].snap)...)
			buf = append(buf, '\n')
		}
		_, _ = w.Write(buf)
	}
	buf = appendHeader(buf[:0], famRequests, "Requests answered, by route and status class.", "counter")
	for i := range series {
		for c, n := range series[i].snap.class {
			buf = appendSample(buf, famRequests, labels[i]+`,class="`+classNames[c]+`"`)
			buf = strconv.AppendUint(buf, n, 10)
			buf = append(buf, '\n')
		}
	}
	_, _ = w.Write(buf)
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	counter(famInFlight, "Requests in flight, by route.", "gauge", func(s *routeSnapshot) string { return strconv.FormatInt(s.inFlight, 10) })
	counter(famDataIn, "Bytes read from clients, by route.", "counter", func(s *routeSnapshot) string { return u(s.dataIn) })
	counter(famDataOut, "Bytes written to clients, by route.", "counter", func(s *routeSnapshot) string { return u(s.dataOut) })
	counter(famQuota, "Requests refused by an API key quota, by route.", "counter", func(s *routeSnapshot) string { return u(s.quotaRejected) })
	hist := func(name, help string, h func(*routeSnapshot) *histSnapshot) {
		buf = appendHeader(buf[:0], name, help, "histogram")
		_, _ = w.Write(buf)
		for i := range series {
			buf = h(&series[i].snap).writeProm(w, buf, name, labels[i])
		}
	}
	hist(famTotal, "Time from the first request byte to the last response byte, by route.", func(s *routeSnapshot) *histSnapshot { return &s.total })
	hist(famBackend, "Time spent waiting for and reading from the backend, by route.", func(s *routeSnapshot) *histSnapshot { return &s.backend })
	hist(famOverhead, "Time spent in the gateway itself (total minus backend), by route.", func(s *routeSnapshot) *histSnapshot { return &s.overhead })
	return buf
}

// allRoutes returns every route ever created, exported or pruned, in no order.
func (s *Set) allRoutes() []*RouteMetrics { return s.appendAllRoutes(nil) }

// appendAllRoutes appends every route ever created to dst.
func (s *Set) appendAllRoutes(dst []*RouteMetrics) []*RouteMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.routes {
		dst = append(dst, m)
	}
	return dst
}

// lookup returns the metrics of route id, or nil.
func (s *Set) lookup(id string) *RouteMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routes[id]
}
