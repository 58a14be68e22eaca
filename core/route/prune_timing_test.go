package route

import (
	"fmt"
	"testing"
)

// BenchmarkRegistryPrune is what dropping the target states of a route write costs at 100k
// routes: PruneRoutes over the routes the write changed, against Prune over every state
// (what each route write did before), in the same run.
//
//	go test -run '^$' -bench 'RegistryPrune' -benchmem ./core/route/
func BenchmarkRegistryPrune(b *testing.B) {
	const n = 100_000
	routes := make([]Route, n)
	for i := range routes {
		routes[i] = Route{ID: fmt.Sprintf("route_%07d", i), Enabled: true,
			Frontend: Frontend{Domains: []string{fmt.Sprintf("r%d.scale.test/api", i)}},
			Backend:  Backend{Targets: []Target{{ID: "t1", Hostname: "127.0.0.1", Port: 10000 + i%50000, Weight: 1}}}}
	}
	reg := NewRegistry()
	t, err := Compile(routes, CompileOptions{Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	ids := []string{routes[n/2].ID}
	b.Run("routes", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			reg.PruneRoutes(t, ids)
		}
	})
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			reg.Prune(t)
		}
	})
}
