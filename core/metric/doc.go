// Package metric keeps Torii's counters, histograms and live statistics, and
// writes them as Prometheus text.
//
// The event loops record with a handful of uncontended atomic adds: every
// metric whose labels are known ahead of time is pre-registered off the loop
// (a RouteMetrics per route id, created when a snapshot is compiled and reused
// across reloads by id), and every counter is sharded per event loop and padded
// to a cache line, so two loops never write the same line. Readers (the
// /metrics handler, the Live sampler) sum the shards.
//
// Latency histograms use fixed power-of-two buckets from 50µs to ~26s, so
// recording one value is one bit-length computation and one atomic add; they are
// written as Prometheus cumulative histograms (le labels) in seconds.
//
// Cardinality: a route gets series of its own only once it has received
// traffic, and at most SetRouteSeries's cap of them do (default 100, about
// 80 lines each); the others are summed into route="other", as every route
// is when per-route series are off. Route labels are at most 128 bytes
// (RouteLabel). Every family has HELP text and one TYPE line (FillHelp
// completes what the VictoriaMetrics library writes), so the output passes
// promtool check metrics.
//
// Live aggregates the same counters into Otoroshi's /api/live shape (calls,
// dataIn, dataOut, rate, duration, overhead, dataInRate, dataOutRate,
// concurrentHandledRequests) plus p50/p99 and the status-class mix of the last
// interval, globally and per route, and streams them as server-sent events.
//
// # Caveats
//
// Set, RouteMetrics and Live are safe for concurrent use. RouteMetrics
// recording methods take the caller's event-loop index; any index is accepted
// (it is reduced modulo the shard count), but only distinct loops using distinct
// indexes get uncontended adds. A RouteMetrics stays valid after its route is
// removed (PruneRoutes only stops exporting it), so a request that loaded an
// old snapshot can still record into it. Live samples every route on each tick
// (default 250ms); the cost grows with routes × loops, roughly 1ms per 10k
// routes on 8 loops. Gauge callbacks registered by other packages run on the
// goroutine that writes /metrics and must not block.
package metric
