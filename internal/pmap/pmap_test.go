package pmap

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMatchesAGoMap applies random sets and deletes to a Map and a Go map and
// checks, after each, contents, order, At, From, and that every earlier
// version is unchanged.
func TestMatchesAGoMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m Map[int]
	ref := map[string]int{}
	type version struct {
		m   Map[int]
		ref map[string]int
	}
	var versions []version
	check := func(m Map[int], ref map[string]int) {
		t.Helper()
		keys := make([]string, 0, len(ref))
		for k := range ref {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if m.Len() != len(keys) {
			t.Fatalf("Len %d, want %d", m.Len(), len(keys))
		}
		i := 0
		for k, v := range m.All() {
			if k != keys[i] || v != ref[k] {
				t.Fatalf("All[%d] = %s:%d, want %s:%d", i, k, v, keys[i], ref[keys[i]])
			}
			i++
		}
		for j := 0; j < len(keys); j += 1 + len(keys)/7 {
			if k, v := m.At(j); k != keys[j] || v != ref[k] {
				t.Fatalf("At(%d) = %s, want %s", j, k, keys[j])
			}
			n := 0
			for k := range m.From(j) {
				if k != keys[j+n] {
					t.Fatalf("From(%d)[%d] = %s, want %s", j, n, k, keys[j+n])
				}
				n++
			}
			if n != len(keys)-j {
				t.Fatalf("From(%d) yielded %d", j, n)
			}
		}
		for _, k := range keys {
			if v, ok := m.Get(k); !ok || v != ref[k] {
				t.Fatalf("Get(%s) = %d %v", k, v, ok)
			}
		}
		if _, ok := m.Get("absent"); ok {
			t.Fatal("Get(absent)")
		}
	}
	for step := 0; step < 3000; step++ {
		k := fmt.Sprintf("k%03d", rng.IntN(400))
		if rng.IntN(3) == 0 {
			m = m.Delete(k)
			delete(ref, k)
		} else {
			m = m.Set(k, step)
			ref[k] = step
		}
		if step%100 == 0 {
			cp := make(map[string]int, len(ref))
			for k, v := range ref {
				cp[k] = v
			}
			versions = append(versions, version{m, cp})
			check(m, ref)
		}
	}
	for _, v := range versions {
		check(v.m, v.ref)
	}
}

func TestShapeDependsOnContentsOnly(t *testing.T) {
	var a, b Map[int]
	for i := range 500 {
		a = a.Set(fmt.Sprint(i), i)
		b = b.Set(fmt.Sprint(499-i), 499-i)
	}
	var depth func(n *node[int]) int
	depth = func(n *node[int]) int {
		if n == nil {
			return 0
		}
		return 1 + max(depth(n.left), depth(n.right))
	}
	if depth(a.root) != depth(b.root) || a.root.key != b.root.key {
		t.Fatalf("same contents, different shapes: depth %d vs %d", depth(a.root), depth(b.root))
	}
	if d := depth(a.root); d > 40 {
		t.Fatalf("depth %d for 500 keys", d)
	}
}

func BenchmarkSetAt1M(b *testing.B) {
	var m Map[int]
	for i := range 1_000_000 {
		m = m.Set(fmt.Sprintf("key_%07d", i), i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = m.Set(fmt.Sprintf("key_%07d", i%1_000_000), i)
	}
}

func TestBuildIsTheSameTreap(t *testing.T) {
	for _, n := range []int{0, 1, 2, 17, 1000} {
		keys := make([]string, n)
		vals := make([]int, n)
		var want Map[int]
		for i := range keys {
			keys[i], vals[i] = fmt.Sprintf("k%05d", i), i
			want = want.Set(keys[i], i)
		}
		got := Build(keys, vals)
		var same func(a, b *node[int]) bool
		same = func(a, b *node[int]) bool {
			if a == nil || b == nil {
				return a == b
			}
			return a.key == b.key && a.val == b.val && a.size == b.size && same(a.left, b.left) && same(a.right, b.right)
		}
		if !same(got.root, want.root) {
			t.Fatalf("Build of %d keys differs from %d insertions", n, n)
		}
		got = got.Set("k00000x", -1).Delete("k00001")
		want = want.Set("k00000x", -1).Delete("k00001")
		if !same(got.root, want.root) {
			t.Fatalf("Build of %d keys then changes differs", n)
		}
	}
}
