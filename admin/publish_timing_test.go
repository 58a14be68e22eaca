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

// stamp forwards snapshots to the engine and remembers when the last one was published.
type stamp struct {
	next Publisher
	at   atomic.Int64
}

func (p *stamp) Publish(s *core.Snapshot) {
	p.next.Publish(s)
	p.at.Store(time.Now().UnixNano())
}

// BenchmarkChangeVisible measures, for a real engine, the time from sending an admin PUT that
// switches a route's backend to the first proxied response that shows the change: decode,
// validate, compile, a fsynced bbolt commit, publish, then one proxied request. It reports p50 and
// p99 in milliseconds ("p50-ms", "p99-ms"), and the part from the publish (right after the commit)
// to the proxied response that shows the change ("visible-p50-ms", "visible-p99-ms"). The writer answers only after publishing, so the proxied request after the
// answer always sees the change; the time is dominated by the durable commit.
func BenchmarkChangeVisible(b *testing.B) {
	engine := startEngine(b)
	portA, portB := startBackend(b, "A"), startBackend(b, "B")
	st := &stamp{next: engine}
	e := newBenchEnv(b, st)
	proxy := engine.Addr().String()
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_load", "load.test", portA)})
	probe := &http.Client{Timeout: 5 * time.Second}
	lat := make([]time.Duration, 0, b.N)
	vis := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want, port := "B", portB
		if i%2 == 1 {
			want, port = "A", portA
		}
		start := time.Now()
		e.must(http.StatusOK, req{method: "PUT", path: "/api/routes/route_load", body: routeBody("route_load", "load.test", port)})
		for try := 0; ; try++ {
			got, err := proxyGet(probe, proxy)
			if err == nil && got == want {
				break
			}
			if try > 1000 {
				b.Fatalf("change %d never visible: %q %v", i, got, err)
			}
		}
		lat = append(lat, time.Since(start))
		vis = append(vis, time.Duration(time.Now().UnixNano()-st.at.Load()))
	}
	b.StopTimer()
	reportPercentiles(b, "", lat)
	reportPercentiles(b, "visible-", vis)
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
