package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/VictoriaMetrics/metrics"

	"github.com/torii-gateway/torii/cluster"
	"github.com/torii-gateway/torii/cluster/redisquota"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/quota"
)

// quotaFlags choose how a worker counts quotas: Redis leases (--redis) or increments pushed to
// the leader.
type quotaFlags struct {
	redis string
	fail  string
}

func (f *quotaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.redis, "redis", "", "Redis address host:port for cluster-wide quotas that never over-admit (leases of calls);\n"+
		"empty: quota increments go to the leader every second (over-admits, see README)")
	fs.StringVar(&f.fail, "quota-fail", "open", "while Redis is unreachable: open (count locally, each worker admitting its share,\n"+
		"limit / workers, of each window) or closed (refuse what the leases held do not cover)")
}

// quotaEngine is a worker's quota counting: the Redis lease source, or the pusher to the leader.
type quotaEngine struct {
	counters *quota.Counters
	src      *redisquota.Source // nil: no Redis
	fail     quota.FailMode
	log      *slog.Logger
	w        *cluster.Worker
}

// start checks the flags and, with --redis, makes counters cluster-wide. It must run before
// any key is compiled (quota.Counters.EnableGlobal precedes the first slot).
func (f *quotaFlags) start(counters *quota.Counters, set *metric.Set, log *slog.Logger) (*quotaEngine, error) {
	e := &quotaEngine{counters: counters, log: log}
	switch f.fail {
	case "open":
		e.fail = quota.FailOpen
	case "closed":
		e.fail = quota.FailClosed
	default:
		return nil, fmt.Errorf("--quota-fail must be open or closed, not %q", f.fail)
	}
	if f.redis == "" {
		return e, nil
	}
	src, err := redisquota.New(f.redis)
	if err != nil {
		return nil, err
	}
	e.src = src
	counters.EnableGlobal(src, quota.GlobalOptions{
		Fail:   e.fail,
		Nodes:  e.workers,
		Logger: log,
		OnDown: func(err error) { metricRedisDown.Inc() },
	})
	set.GaugeFunc("torii_quota_redis_up", func() float64 {
		if counters.GlobalStats().Up {
			return 1
		}
		return 0
	})
	stat := func(f func(s quota.GlobalStats) uint64) func() uint64 {
		return func() uint64 { return f(counters.GlobalStats()) }
	}
	set.CounterFunc("torii_quota_redis_calls_total", stat(func(s quota.GlobalStats) uint64 { return s.Calls }))
	set.CounterFunc("torii_quota_lease_requests_total", stat(func(s quota.GlobalStats) uint64 { return s.Requests }))
	set.CounterFunc("torii_quota_redis_failures_total", stat(func(s quota.GlobalStats) uint64 { return s.Failures }))
	set.CounterFunc("torii_quota_leased_calls_total", stat(func(s quota.GlobalStats) uint64 { return s.Granted }))
	set.CounterFunc("torii_quota_returned_calls_total", stat(func(s quota.GlobalStats) uint64 { return s.Returned }))
	set.CounterFunc("torii_quota_lease_waits_total", stat(func(s quota.GlobalStats) uint64 { return s.Waits }))
	set.CounterFunc("torii_quota_fail_open_admits_total", stat(func(s quota.GlobalStats) uint64 { return s.OpenAdmits }))
	set.GaugeFunc("torii_quota_leased_calls_held", func() float64 { return float64(counters.GlobalStats().Held) })
	return e, nil
}

func (e *quotaEngine) workers() int {
	if e.w == nil {
		return 1
	}
	return e.w.Workers()
}

// status is what the worker reports to the leader.
func (e *quotaEngine) status() cluster.Status {
	if e.src == nil {
		return cluster.Status{Redis: "off"}
	}
	st := e.counters.GlobalStats()
	s := cluster.Status{Leases: st.Held, RedisCalls: int64(st.Calls), Redis: "up"}
	if !st.Up {
		s.Redis = "down"
	}
	return s
}

// run counts until ctx is done: with Redis the lease goroutine (which returns the unspent
// leases at the end) and a pusher that only reports (usage on the leader, and the worker's
// status every second); without, the pusher that adopts the cluster's counts.
func (e *quotaEngine) run(ctx context.Context) {
	if e.w == nil {
		return
	}
	if e.src == nil {
		cluster.NewPusher(e.w, e.counters, true).Run(ctx)
		return
	}
	done := make(chan struct{})
	go func() { defer close(done); cluster.NewPusher(e.w, e.counters, false).Run(ctx) }()
	e.counters.RunGlobal(ctx)
	<-done
}

func (e *quotaEngine) close() {
	if e.src != nil {
		e.src.Close()
	}
}

// statusHandler serves a worker's /metrics (Prometheus text) and /health (JSON: the state it
// serves, the leader contact and the quota engine).
func statusHandler(set *metric.Set, e *quotaEngine, w *cluster.Worker) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(rw http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer
		metrics.WritePrometheus(&buf, true)
		set.WritePrometheus(&buf)
		rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = rw.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /health", func(rw http.ResponseWriter, _ *http.Request) {
		st := e.status()
		gs := e.counters.GlobalStats()
		body := map[string]any{
			"stateFrom":   w.StateFrom(),
			"lastContact": w.LastContact().UnixMilli(),
			"workers":     w.Workers(),
			"redis":       st.Redis,
			"quota": map[string]any{"redisCalls": gs.Calls, "leaseRequests": gs.Requests, "redisFailures": gs.Failures, "leased": gs.Granted,
				"returned": gs.Returned, "held": gs.Held, "waits": gs.Waits, "overflows": gs.Overflows, "openAdmits": gs.OpenAdmits},
		}
		b, _ := json.Marshal(body)
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(append(b, '\n'))
	})
	return mux
}

// metricRedisDown counts the times Redis became unreachable.
var metricRedisDown = metrics.NewCounter("torii_quota_redis_down_total")
