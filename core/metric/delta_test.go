package metric

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSyncRoutesDeltaMatchesSync drives two Sets through random route writes,
// one with SyncRoutes over every route, one with SyncRoutesDelta over what
// changed, and checks after each write that both export the same routes in
// the same order and that the delta returns the metrics by id.
func TestSyncRoutesDeltaMatchesSync(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	full, delta := NewSet(2), NewSet(2)
	full.Route(NoRouteID)
	delta.Route(NoRouteID)
	routes := map[string]bool{}
	for round := range 400 {
		var added, removed []string
		touched := map[string]bool{} // a write changes a route once
		for range 1 + rng.IntN(4) {
			id := fmt.Sprintf("r%03d", rng.IntN(60))
			if touched[id] {
				continue
			}
			touched[id] = true
			switch {
			case routes[id] && rng.IntN(2) == 0: // deleted
				delete(routes, id)
				removed = append(removed, id)
			case routes[id]: // replaced: in both
				removed = append(removed, id)
				added = append(added, id)
			default:
				routes[id] = true
				added = append(added, id)
			}
		}
		var all []string
		for id := range routes {
			all = append(all, id)
		}
		full.SyncRoutes(all)
		got := delta.SyncRoutesDelta(added, removed)
		for i, m := range got {
			if m.ID() != added[i] || m != delta.lookup(added[i]) {
				t.Fatalf("round %d: SyncRoutesDelta[%d] is %q, want the metrics of %q", round, i, m.ID(), added[i])
			}
		}
		if a, b := ids(full.Routes()), ids(delta.Routes()); !slices.Equal(a, b) {
			t.Fatalf("round %d (added %v, removed %v): exported %v, want %v", round, added, removed, b, a)
		}
	}
}
