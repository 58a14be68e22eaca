package apikey

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/internal/testkit"
)

// TestWithMatchesCompile applies random puts and deletes with With and
// checks, after each batch, that the Set finds exactly what a Set compiled
// from scratch with the same keys finds, and that earlier Sets are unchanged.
func TestWithMatchesCompile(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	mk := func(id int, gen int) ApiKey {
		k := Defaults()
		k.ClientID, k.ClientSecret, k.ClientName = "id"+strconv.Itoa(id), secretA, "gen"+strconv.Itoa(gen)
		return k
	}
	s, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := map[string]ApiKey{}
	type version struct {
		s   *Set
		ref map[string]string // client id → name
	}
	var versions []version
	check := func(s *Set, names map[string]string) {
		t.Helper()
		if s.Len() != len(names) {
			t.Fatalf("Len %d, want %d", s.Len(), len(names))
		}
		seen := 0
		for k := range s.All() {
			if names[k.ClientID] != k.ClientName {
				t.Fatalf("All yields %s=%s, want %s", k.ClientID, k.ClientName, names[k.ClientID])
			}
			seen++
		}
		if seen != len(names) {
			t.Fatalf("All yields %d keys, want %d", seen, len(names))
		}
		for id := range 3000 {
			k, want := s.Get("id"+strconv.Itoa(id)), names["id"+strconv.Itoa(id)]
			if (k == nil) != (want == "") || (k != nil && k.ClientName != want) {
				t.Fatalf("Get(id%d) = %v, want %q", id, k, want)
			}
		}
	}
	for batch := range 300 {
		var put []ApiKey
		var del []string
		used := map[int]bool{} // one change per id and batch: With's order within a batch is not defined
		for range 1 + rng.IntN(40) {
			id := rng.IntN(3000)
			if used[id] {
				continue
			}
			used[id] = true
			if rng.IntN(3) == 0 {
				del = append(del, "id"+strconv.Itoa(id))
				delete(ref, "id"+strconv.Itoa(id))
			} else {
				put = append(put, mk(id, batch))
				ref["id"+strconv.Itoa(id)] = put[len(put)-1]
			}
		}
		if s, err = s.With(put, del); err != nil {
			t.Fatal(err)
		}
		names := map[string]string{}
		all := make([]ApiKey, 0, len(ref))
		for id, k := range ref {
			names[id] = k.ClientName
			all = append(all, k)
		}
		full, err := Compile(all)
		if err != nil {
			t.Fatal(err)
		}
		check(full, names)
		check(s, names)
		if batch%30 == 0 {
			versions = append(versions, version{s, names})
		}
	}
	for _, v := range versions {
		check(v.s, v.ref)
	}
	if _, err := s.With([]ApiKey{{ClientID: "bad"}}, nil); err == nil {
		t.Fatal("With accepted an invalid key")
	}
}

// benchSet1M compiles 1M keys with quota counters.
func benchSet1M(b *testing.B) (*Set, *quota.Counters, []ApiKey, [][]byte) {
	b.Helper()
	keys, ids := benchKeyListN(1_000_000)
	q := quota.New(quota.Options{})
	s, err := CompileWith(keys, CompileOptions{Counters: q})
	if err != nil {
		b.Fatal(err)
	}
	return s, q, keys, ids
}

// BenchmarkLookupAndTake1M is BenchmarkLookupAndTake with 1M keys in the
// Set: hot64 cycles over 64 keys, as BenchmarkLookupAndTake does (a few busy
// clients: their slots, keys and counters stay in cache); random looks keys up
// in a random order over all 1M (several cache and TLB misses per lookup: the
// floor is the machine's memory latency, not the table).
func BenchmarkLookupAndTake1M(b *testing.B) {
	s, q, _, ids := benchSet1M(b)
	for _, c := range []struct {
		name  string
		order []int
	}{
		{"hot64", rand.New(rand.NewPCG(5, 6)).Perm(len(ids))[:benchKeys]},
		{"random", rand.New(rand.NewPCG(5, 6)).Perm(len(ids))},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			testkit.ReportCPU(b, func() {
				for b.Loop() {
					k := s.Lookup(ids[c.order[i%len(c.order)]])
					sinkOK, _, _ = s.Count(q, k, testNow)
					i++
				}
			})
		})
	}
}

// BenchmarkWith1M measures one key update in a 1M-key Set (With), against
// compiling the whole Set again (CompileWith), as every write did before.
func BenchmarkWith1M(b *testing.B) {
	s, q, keys, _ := benchSet1M(b)
	b.Run("With", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := keys[i%len(keys)]
			k.ClientName = fmt.Sprint("renamed", i)
			if _, err := s.With([]ApiKey{k}, nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("CompileWith", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := CompileWith(keys, CompileOptions{Counters: q}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
