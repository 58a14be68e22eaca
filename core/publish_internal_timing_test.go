package core

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/route"
)

// BenchmarkRouteWriteSteps is what the engine side of one route write costs at 100k routes,
// by the change (route.Table.DeltaFrom) against the full pass over every route that each
// write did before, measured in the same run: the snapshot's per-route policies
// (BuildSnapshotFrom against BuildSnapshot) and the route metrics Publish attaches
// (attachObserve by delta against metric.Set.SyncRoutes over every route). The table
// itself (route.Table.With) is measured in core/route.
//
//	go test -run '^$' -bench 'RouteWriteSteps' -benchmem ./core/
func BenchmarkRouteWriteSteps(b *testing.B) {
	const n = 100_000
	mk := func(i, port int) route.Route {
		return route.Route{ID: fmt.Sprintf("route_%07d", i), Enabled: true,
			Frontend: route.Frontend{Domains: []string{fmt.Sprintf("r%d.scale.test/api", i)}},
			Backend: route.Backend{Targets: []route.Target{{ID: "t1", Hostname: "127.0.0.1", Port: port, Weight: 1}},
				LoadBalancing: route.LoadBalancing{Type: "RoundRobin"}, Client: route.DefaultClientConfig()},
			Plugins: route.Plugins{{Enabled: true, Plugin: "cp:otoroshi.next.plugins.ApikeyCalls", Config: []byte(`{}`)}}}
	}
	routes := make([]route.Route, n)
	for i := range routes {
		routes[i] = mk(i, 10000+i%50000)
	}
	reg := route.NewRegistry()
	t1, err := route.Compile(routes, route.CompileOptions{Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	t2, err := t1.With([]route.Route{mk(n/2, 9999)}, nil, route.CompileOptions{Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	prev, err := BuildSnapshot(t1, nil, nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("policies/delta", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := BuildSnapshotFrom(prev, t2, nil, nil, 2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("policies/full", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := BuildSnapshot(t2, nil, nil, 2); err != nil {
				b.Fatal(err)
			}
		}
	})
	s, err := NewServer(Config{Listen: "127.0.0.1:0", Loops: 2, Metrics: metric.NewSet(2),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	s.Publish(prev)
	next, err := BuildSnapshotFrom(prev, t2, nil, nil, 2)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("metrics/delta", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			snap := *next
			snap.obs = nil
			s.attachObserve(&snap)
		}
	})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = t2.RouteAt(i).ID
	}
	b.Run("metrics/full", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			s.obs.set.SyncRoutes(ids)
		}
	})
}
