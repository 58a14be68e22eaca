package dns

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestWatchDiffMatchesWatch drives two caches through random name changes, one with Watch of
// the whole list, one with WatchDiff of what changed, and checks they watch the same names.
func TestWatchDiffMatchesWatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	full, diff := New(Options{HostsFile: "-"}), New(Options{HostsFile: "-"})
	names := map[string]bool{}
	for round := range 300 {
		var add, remove []string
		for range rng.IntN(5) {
			h := fmt.Sprintf("h%02d.test", rng.IntN(40))
			if names[h] {
				delete(names, h)
				remove = append(remove, h)
			} else {
				names[h] = true
				add = append(add, h)
			}
		}
		add, remove = settle(add, remove)
		full.Watch(slices.Collect(maps.Keys(names)))
		diff.WatchDiff(add, remove)
		if a, b := watched(full), watched(diff); !slices.Equal(a, b) {
			t.Fatalf("round %d (add %v, remove %v): WatchDiff watches %v, Watch %v", round, add, remove, b, a)
		}
	}
}

// settle drops a name both added and removed in one round (it was toggled twice).
func settle(add, remove []string) ([]string, []string) {
	count := map[string]int{}
	for _, h := range add {
		count[h]++
	}
	for _, h := range remove {
		count[h]--
	}
	keep := func(s []string, sign int) []string {
		var out []string
		for _, h := range s {
			if count[h]*sign > 0 && !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
		return out
	}
	return keep(add, 1), keep(remove, -1)
}

func watched(c *Cache) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.names))
}
