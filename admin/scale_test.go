package admin

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/internal/jsonx"
	"go.etcd.io/bbolt"
)

// The scale harness (make bench-scale): TORII_SCALE=<routes>,<keys> stores that many routes and
// API keys in a bbolt file, starts the admin server on it with a real core.Server as publisher,
// and reports the start time, the heap per route and per key, and the latency of route and key
// creates, updates and deletes from the request to the new snapshot being the proxy's (the
// response is sent after the fsynced commit and the publish). It is skipped without TORII_SCALE.

// scaleRoute is the stored document of generated route i (an Otoroshi route, defaults filled).
func scaleRoute(i, gen int) []byte {
	d := map[string]any{
		"id": fmt.Sprintf("route_%07d", i), "name": fmt.Sprintf("generated route %d", i),
		"frontend": map[string]any{"domains": []any{fmt.Sprintf("r%d.scale.test/api", i)}},
		"backend": map[string]any{"targets": []any{map[string]any{"id": "t1", "hostname": "127.0.0.1",
			"port": float64(10000 + (i+gen)%50000)}}},
	}
	fillDefaults(d, kinds[kRoutes].defaults)
	raw, err := jsonx.Encode(d)
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return raw
}

// scaleKey is the stored document of generated API key i.
func scaleKey(i, gen int) []byte {
	d := map[string]any{
		"clientId": fmt.Sprintf("key%07dxxxxxx", i), "clientSecret": fmt.Sprintf("secret-%07d-%d-abcdefghijklmnop", i, gen),
		"clientName": fmt.Sprintf("customer %d", i), "authorizedEntities": []any{fmt.Sprintf("route_route_%07d", i%100), "group_default"},
		"throttlingQuota": float64(100 + gen), "metadata": map[string]any{"plan": "basic"}, "tags": []any{"generated"},
	}
	fillDefaults(d, kinds[kKeys].defaults)
	raw, err := jsonx.Encode(d)
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return raw
}

// storeScale writes routes [0, nr) and keys [0, nk) into the database at path, in batches.
func storeScale(t *testing.T, path string, nr, nk int) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(bucket string, n int, doc func(i, gen int) []byte, id func(i int) string) {
		for lo := 0; lo < n; lo += 50_000 {
			var ch []change
			for i := lo; i < min(n, lo+50_000); i++ {
				ch = append(ch, change{bucket: bucket, key: id(i), value: doc(i, 0)})
			}
			if err := commit(db, nil, ch, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(bucketRoutes, nr, scaleRoute, func(i int) string { return fmt.Sprintf("route_%07d", i) })
	put(bucketKeys, nk, scaleKey, func(i int) string { return fmt.Sprintf("key%07dxxxxxx", i) })
}

func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestScale(t *testing.T) {
	spec := os.Getenv("TORII_SCALE")
	if spec == "" {
		t.Skip("set TORII_SCALE=<routes>,<keys> to run the scale harness (make bench-scale)")
	}
	nr, errR := strconv.Atoi(strings.Split(spec, ",")[0])
	nk, errK := strconv.Atoi(strings.Split(spec+",", ",")[1])
	if errR != nil || errK != nil || nr < 100 {
		t.Fatalf("TORII_SCALE=%q: want <routes>,<keys> with at least 100 routes", spec)
	}
	dbPath := t.TempDir() + "/torii.db"
	// An empty database with its buckets, as a first start leaves it.
	e := &env{t: t, pub: &recorder{}, dbPath: dbPath}
	e.start(nil)
	e.stop()

	t0 := time.Now()
	storeScale(t, dbPath, nr, 0)
	t.Logf("stored %d routes in %v", nr, time.Since(t0).Round(time.Millisecond))
	base := heapNow()
	start := func() (*env, *core.Server, time.Duration) {
		counters := quota.New(quota.Options{})
		srv, err := core.NewServer(core.Config{Listen: "127.0.0.1:0", Loops: 2, Metrics: metric.NewSet(2), Quotas: counters,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, pub: &recorder{}, dbPath: dbPath}
		t0, c0 := time.Now(), cpuTime()
		e.start(func(o *Options) { o.Publisher = srv; o.Quotas = counters })
		e.client.Timeout = 5 * time.Minute // a route write at 100k routes is not fast
		t.Logf("start: %v of CPU time (user+system, all threads) in %v", (cpuTime() - c0).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
		return e, srv, time.Since(t0)
	}
	e, _, took := start()
	withRoutes := heapNow()
	t.Logf("start with %d routes: %v; heap %.1f MiB, %.0f B per route", nr, took.Round(time.Millisecond),
		float64(withRoutes-base)/(1<<20), float64(withRoutes-base)/float64(nr))
	e.stop()
	// The stopped server must not be counted with the next one's keys: t.Cleanup keeps e.
	e.s, e.pub = nil, nil
	t.Logf("heap after stopping it: %.1f MiB above the empty start", (float64(heapNow())-float64(base))/(1<<20))

	t0 = time.Now()
	storeScale(t, dbPath, 0, nk)
	t.Logf("stored %d keys in %v", nk, time.Since(t0).Round(time.Millisecond))
	e, srv, took := start()
	all := heapNow()
	if path := os.Getenv("TORII_SCALE_HEAPPROFILE"); path != "" {
		writeHeapProfile(t, path)
	}
	t.Logf("start with %d routes and %d keys: %v; heap %.1f MiB in all, %.0f B per key",
		nr, nk, took.Round(time.Millisecond), float64(all-base)/(1<<20), float64(all-withRoutes)/float64(max(nk, 1)))

	diskBaseline(t, filepath.Dir(dbPath))
	rounds := 200
	if n, err := strconv.Atoi(os.Getenv("TORII_SCALE_WRITES")); err == nil && n > 0 {
		rounds = n
	}
	// The phases of each write inside the server: edit and compile, fsynced commit, publish.
	var phases [3][]time.Duration
	e.s.mu.Lock()
	e.s.writePhases = func(compile, commit, publish time.Duration) {
		for i, d := range [3]time.Duration{compile, commit, publish} {
			phases[i] = append(phases[i], d)
		}
	}
	e.s.mu.Unlock()
	pct := func(d []time.Duration) string {
		slices.Sort(d)
		return fmt.Sprintf("%.2f/%.2f", ms(d[len(d)/2]), ms(d[len(d)*99/100]))
	}
	timed := func(what string, q func(i int) req, want int, visible func(i int) bool) {
		lat := make([]time.Duration, 0, rounds)
		phases = [3][]time.Duration{}
		for i := range rounds {
			t0 := time.Now()
			e.must(want, q(i))
			lat = append(lat, time.Since(t0))
			if !visible(i) {
				t.Fatalf("%s %d: the proxy's snapshot does not show the change", what, i)
			}
		}
		slices.Sort(lat)
		t.Logf("%-13s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%d writes; p50/p99 ms: compile %s, commit %s, publish %s)", what,
			ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1]), len(lat),
			pct(phases[0]), pct(phases[1]), pct(phases[2]))
	}
	newKey := func(i int) string { return fmt.Sprintf("key%07dxxxxxx", nk+i) }
	timed("key create", func(i int) req {
		return req{method: "POST", path: "/api/apikeys", body: string(scaleKey(nk+i, 0))}
	}, http.StatusCreated, func(i int) bool { return srv.Snapshot().Keys.Get(newKey(i)) != nil })
	timed("key update", func(i int) req {
		return req{method: "PUT", path: "/api/apikeys/" + fmt.Sprintf("key%07dxxxxxx", i*997%max(nk, 1)), body: string(scaleKey(i*997%max(nk, 1), i+1))}
	}, http.StatusOK, func(i int) bool {
		k := srv.Snapshot().Keys.Get(fmt.Sprintf("key%07dxxxxxx", i*997%max(nk, 1)))
		return k != nil && k.Limits.Throttle == int64(101+i)
	})
	timed("key delete", func(i int) req { return req{method: "DELETE", path: "/api/apikeys/" + newKey(i)} },
		http.StatusOK, func(i int) bool { return srv.Snapshot().Keys.Get(newKey(i)) == nil })
	routeRounds := rounds
	if n, err := strconv.Atoi(os.Getenv("TORII_SCALE_ROUTE_WRITES")); err == nil && n > 0 {
		rounds = n
	}
	timed("route create", func(i int) req {
		return req{method: "POST", path: "/api/routes", body: string(scaleRoute(nr+i, 0))}
	}, http.StatusCreated, func(i int) bool { return srv.Snapshot().Routes.Route(fmt.Sprintf("route_%07d", nr+i)) != nil })
	timed("route update", func(i int) req {
		return req{method: "PUT", path: "/api/routes/" + fmt.Sprintf("route_%07d", i*31%nr), body: string(scaleRoute(i*31%nr, i+1))}
	}, http.StatusOK, func(i int) bool {
		r := srv.Snapshot().Routes.Route(fmt.Sprintf("route_%07d", i*31%nr))
		return r != nil && r.Upstreams()[0].Addr.Port() == uint16(10000+(i*31%nr+i+1)%50000)
	})
	timed("route delete", func(i int) req { return req{method: "DELETE", path: "/api/routes/" + fmt.Sprintf("route_%07d", nr+i)} },
		http.StatusOK, func(i int) bool { return srv.Snapshot().Routes.Route(fmt.Sprintf("route_%07d", nr+i)) == nil })
	rounds = routeRounds
}

// writeHeapProfile writes the heap profile (go tool pprof -sample_index=inuse_space) to path.
func writeHeapProfile(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

// cpuTime is the process's user and system CPU time so far: on a machine shared with other jobs,
// what a start costs, where the wall time says how long it waited for a core too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// diskBaseline logs what the disk under dir gives one 4 KiB page write followed by fdatasync,
// 200 times: the floor of a bbolt commit (which does at least two), measured in the same run
// as the writes, for reading their tail.
func diskBaseline(t *testing.T, dir string) {
	f, err := os.CreateTemp(dir, "fsync")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	lat := make([]time.Duration, 0, 200)
	for i := range 200 {
		t0 := time.Now()
		if _, err := f.WriteAt(page, int64(i%64)*4096); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	t.Logf("disk baseline: 4 KiB write + fdatasync p50 %.2f ms  p99 %.2f ms  max %.2f ms  (200 times)",
		ms(lat[100]), ms(lat[198]), ms(lat[199]))
}
