package admin

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"

	"go.etcd.io/bbolt"
)

// probeAfterPublish forwards snapshots to the engine and, right after each publish, sends one
// proxied request and records how long it took to get an answer that shows the change.
type probeAfterPublish struct {
	next  Publisher
	probe func() (string, error)
	want  atomic.Value // string: the body the next proxied request must see
	vis   []time.Duration
	err   error
}

func (p *probeAfterPublish) Publish(s *core.Snapshot) {
	p.next.Publish(s)
	want, _ := p.want.Load().(string)
	if want == "" {
		return
	}
	start := time.Now()
	got, err := p.probe()
	if err == nil && got != want {
		err = fmt.Errorf("the first request after publish got %q, want %q", got, want)
	}
	if err != nil && p.err == nil {
		p.err = err
	}
	p.vis = append(p.vis, time.Since(start))
}

// BenchmarkChangeVisible measures a route change on a real engine. "p50-ms"/"p99-ms": from
// sending an admin PUT that switches the route's backend to its 200 (decode, validate, compile, a
// fsynced bbolt commit, publish). "visible-p50-ms"/"visible-p99-ms": from the publish to the
// answer of the next proxied request, which must already come from the new backend (it fails the
// benchmark otherwise). The acceptance criterion is visible-p99 under 10 ms.
func BenchmarkChangeVisible(b *testing.B) {
	engine := startEngine(b)
	portA, portB := startBackend(b, "A"), startBackend(b, "B")
	proxy := engine.Addr().String()
	probe := &http.Client{Timeout: 5 * time.Second}
	pub := &probeAfterPublish{next: engine, probe: func() (string, error) { return proxyGet(probe, proxy) }}
	e := newBenchEnv(b, pub)
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_load", "load.test", portA)})
	if _, err := proxyGet(probe, proxy); err != nil { // warm the keep-alive connections
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want, port := "B", portB
		if i%2 == 1 {
			want, port = "A", portA
		}
		pub.want.Store(want)
		start := time.Now()
		e.must(http.StatusOK, req{method: "PUT", path: "/api/routes/route_load", body: routeBody("route_load", "load.test", port)})
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	if pub.err != nil {
		b.Fatal(pub.err)
	}
	reportPercentiles(b, "", lat)
	reportPercentiles(b, "visible-", pub.vis)
}

// BenchmarkBboltCommitBaseline is the floor of a durable admin write: one fsynced bbolt
// transaction putting one small value, with nothing else.
func BenchmarkBboltCommitBaseline(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "base.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		err := db.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return bk.Put([]byte("k"), []byte(fmt.Sprintf(`{"n":%d}`, i)))
		})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, "", lat)
}

func reportPercentiles(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), prefix+"p50-ms")
	b.ReportMetric(at(0.99), prefix+"p99-ms")
}
