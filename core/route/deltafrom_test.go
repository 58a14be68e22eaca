package route

import "testing"

// TestDeltaFrom checks that a table's Delta is given only against the table With was called on.
func TestDeltaFrom(t *testing.T) {
	mk := func(id, host string) Route {
		return Route{ID: id, Enabled: true, Frontend: Frontend{Domains: []string{host}},
			Backend: Backend{Targets: []Target{{ID: "t", Hostname: "127.0.0.1", Port: 3000, Weight: 1}}}}
	}
	a, err := Compile([]Route{mk("a", "a.test"), mk("b", "b.test")}, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.With([]Route{mk("c", "c.test")}, []string{"a"}, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.With(nil, []string{"b"}, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := b.DeltaFrom(a); d == nil || len(d.Removed) != 1 || d.Removed[0].ID != "a" || len(d.Added) != 1 || d.Added[0].ID != "c" {
		t.Fatalf("b.DeltaFrom(a) = %+v, want a removed and c added", d)
	}
	if b.DeltaFrom(b) != nil || c.DeltaFrom(a) != nil || a.DeltaFrom(nil) != nil || a.DeltaFrom(a) != nil {
		t.Fatal("DeltaFrom answered for a table t was not made from")
	}
	if d := c.DeltaFrom(b); d == nil || len(d.Removed) != 1 || d.Removed[0].ID != "b" || len(d.Added) != 0 {
		t.Fatalf("c.DeltaFrom(b) = %+v, want b removed", d)
	}
}
