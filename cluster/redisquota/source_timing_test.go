package redisquota

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/internal/testkit"
)

// benchArgs are the lease script's arguments for a key with room to spare: one call wanted.
func benchArgs() []string {
	exp := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	return []string{"-1", "1000000000", "-1", exp, exp, exp, "1", "0", "1"}
}

// BenchmarkLeaseClient compares the two Redis clients on what the lease goroutine does: the
// lease script, one call at a time from parallel goroutines (single) and in pipelined batches
// of 64 (batch64, the lease goroutine's shape under load). ns/op is per script run.
func BenchmarkLeaseClient(b *testing.B) {
	r := testkit.StartRedis(b)
	args := benchArgs()
	anyArgs := make([]any, len(args))
	for i, a := range args {
		anyArgs[i] = a
	}
	ru, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.Addr}, DisableCache: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ru.Close()
	gr := goredis.NewClient(&goredis.Options{Addr: r.Addr, PoolSize: 16})
	defer gr.Close()
	ruScript := rueidis.NewLuaScript(leaseScript)
	grScript := goredis.NewScript(leaseScript)
	var n atomic.Int64
	key := func() []string {
		id := "bench" + strconv.FormatInt(n.Add(1)%64, 10)
		return keys(id, 1, 2, 3)
	}
	b.Run("rueidis/single", func(b *testing.B) {
		b.ReportAllocs()
		testkit.ReportCPU(b, func() {
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := ruScript.Exec(ctx, ru, key(), args).Error(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	})
	b.Run("go-redis/single", func(b *testing.B) {
		b.ReportAllocs()
		testkit.ReportCPU(b, func() {
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := grScript.Run(ctx, gr, key(), anyArgs...).Err(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	})
	const batch = 64
	b.Run("rueidis/batch64", func(b *testing.B) {
		b.ReportAllocs()
		testkit.ReportCPU(b, func() {
			ctx := context.Background()
			for i := 0; i < b.N; i += batch {
				execs := make([]rueidis.LuaExec, batch)
				for j := range execs {
					execs[j] = rueidis.LuaExec{Keys: key(), Args: args}
				}
				for _, res := range ruScript.ExecMulti(ctx, ru, execs...) {
					if err := res.Error(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	})
	b.Run("go-redis/batch64", func(b *testing.B) {
		b.ReportAllocs()
		testkit.ReportCPU(b, func() {
			ctx := context.Background()
			_ = grScript.Load(ctx, gr).Err()
			for i := 0; i < b.N; i += batch {
				cmds, err := gr.Pipelined(ctx, func(p goredis.Pipeliner) error {
					for range batch {
						grScript.EvalSha(ctx, p, key(), anyArgs...)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				_ = cmds
			}
		})
	})
}

// parks and parkedNs measure the policy choice: each parking is a call that a "refuse when no
// lease" policy would have answered 429 although the quota had room; parkedNs is the latency
// the "wait off the loop" policy (Torii's) adds instead.
var parks, parkedNs atomic.Int64

// takeUntilDone takes one call of id on c the way the proxy does (parking on Pending).
func takeUntilDone(c *quota.Counters, sl *quota.Slot, id string, lim quota.Limits) bool {
	for range 17 {
		ok, _, retry := c.TakeSlot(sl, lim, time.Now())
		if retry != quota.Pending {
			return ok
		}
		parks.Add(1)
		start := time.Now()
		woke := make(chan struct{})
		c.Wait(id, func() { close(woke) })
		<-woke
		parkedNs.Add(int64(time.Since(start)))
	}
	return false
}

// reportParks reports the parkings per 1000 calls and their mean wait since p0 and w0.
func reportParks(b *testing.B, p0, w0 int64) {
	p, w := parks.Load()-p0, parkedNs.Load()-w0
	b.ReportMetric(float64(p)*1000/float64(b.N), "parks/1000calls")
	if p > 0 {
		b.ReportMetric(float64(w)/float64(p)/1000, "µs/park")
	}
}

// BenchmarkTake is the per-call cost of the quota check of a hot key in the steady state:
// local counting (today's single node) against cluster-wide counting through Redis leases. It
// reports the Redis round trips and lease requests per 1000 calls, and the process CPU time
// per call (cpu-ns/op: all threads, the lease goroutine and the Redis client included, Redis
// itself not), which a shared machine's scheduling disturbs less than ns/op.
func BenchmarkTake(b *testing.B) {
	// A limited daily quota far above any b.N (10 million, minus one: Unlimited is not counted).
	lim := quota.Limits{Throttle: quota.Unlimited, Daily: quota.Unlimited - 1, Monthly: quota.Unlimited}
	b.Run("local", func(b *testing.B) {
		c := quota.New(quota.Options{})
		id := "hot-" + strconv.Itoa(b.N) // each run its own key: b.N calls stay under the quota
		sl := c.Slot(id)
		b.ReportAllocs()
		cpu := testkit.CPUTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !takeUntilDone(c, sl, id, lim) {
					b.Error("a call of a key far from its quota was refused")
					return
				}
			}
		})
		b.ReportMetric(float64(testkit.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("global", func(b *testing.B) {
		r := testkit.StartRedis(b)
		src, err := New(r.Addr)
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		c := quota.New(quota.Options{})
		c.EnableGlobal(src, quota.GlobalOptions{Nodes: func() int { return 3 }})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); c.RunGlobal(ctx) }()
		defer func() { cancel(); wg.Wait() }()
		id := "hot-" + strconv.Itoa(b.N) // each run its own key: b.N calls stay under the quota
		sl := c.Slot(id)
		for range 20000 { // warm up: the lease size adapts to the rate
			takeUntilDone(c, sl, id, lim)
		}
		before := c.GlobalStats()
		p0, w0 := parks.Load(), parkedNs.Load()
		b.ReportAllocs()
		b.ResetTimer()
		cpu := testkit.CPUTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !takeUntilDone(c, sl, id, lim) {
					b.Error("a call of a key far from its quota was refused")
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(testkit.CPUTime()-cpu)/float64(b.N), "cpu-ns/op")
		reportParks(b, p0, w0)
		after := c.GlobalStats()
		b.ReportMetric(float64(after.Calls-before.Calls)*1000/float64(b.N), "redis-roundtrips/1000calls")
		b.ReportMetric(float64(after.Requests-before.Requests)*1000/float64(b.N), "lease-requests/1000calls")
	})
}

// BenchmarkColdKeys calls 1000 keys once each (8 goroutines), on fresh counters per round: every
// key needs its own lease. It reports Redis round trips and lease requests per 1000 calls.
func BenchmarkColdKeys(b *testing.B) {
	r := testkit.StartRedis(b)
	src, err := New(r.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	lim := quota.Limits{Throttle: quota.Unlimited, Daily: 1000000, Monthly: quota.Unlimited}
	var calls, reqs uint64
	p0, w0 := parks.Load(), parkedNs.Load()
	for i := 0; i < b.N; i++ {
		c := quota.New(quota.Options{})
		c.EnableGlobal(src, quota.GlobalOptions{Nodes: func() int { return 3 }})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.RunGlobal(ctx); close(done) }()
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := next.Add(1); k <= 1000; k = next.Add(1) {
					id := fmt.Sprintf("cold-%d-%d", i, k)
					if !takeUntilDone(c, c.Slot(id), id, lim) {
						b.Error("cold key refused")
					}
				}
			}()
		}
		wg.Wait()
		st := c.GlobalStats()
		calls += st.Calls
		reqs += st.Requests
		cancel()
		<-done
	}
	b.ReportMetric(float64(calls)/float64(b.N), "redis-roundtrips/1000calls")
	b.ReportMetric(float64(reqs)/float64(b.N), "lease-requests/1000calls")
	p, w := parks.Load()-p0, parkedNs.Load()-w0
	b.ReportMetric(float64(p)/float64(b.N), "parks/1000calls")
	if p > 0 {
		b.ReportMetric(float64(w)/float64(p)/1000, "µs/park")
	}
}
