package route

import "testing"

// TestHealthUpdateByDelta checks Update over a table made by With: a route whose health check
// a write removed gets its targets marked healthy, as a full Update does, while a route the
// write did not touch keeps the state its health check gave it.
func TestHealthUpdateByDelta(t *testing.T) {
	reg := NewRegistry()
	mk := func(id string, check bool) Route {
		r := Route{ID: id, Enabled: true, Frontend: Frontend{Domains: []string{id + ".test"}},
			Backend: Backend{Targets: []Target{{ID: "t", Hostname: "127.0.0.1", Port: 3000, Weight: 1}}}}
		if check {
			r.Backend.HealthCheck = &HealthCheck{Enabled: true, URL: "/health"}
		}
		return r
	}
	opts := CompileOptions{Registry: reg}
	a, err := Compile([]Route{mk("x", true), mk("y", true)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHealthChecker(reg, HealthOptions{})
	h.Update(a)
	for _, id := range []string{"x", "y"} {
		a.Route(id).Upstreams()[0].State().setHealthy(false, "down")
	}
	b, err := a.With([]Route{mk("x", false)}, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if b.DeltaFrom(a) == nil {
		t.Fatal("no delta")
	}
	h.Update(b)
	if !b.Route("x").Upstreams()[0].State().Healthy() {
		t.Fatal("the target of the route whose health check was removed is still unhealthy")
	}
	if b.Route("y").Upstreams()[0].State().Healthy() {
		t.Fatal("Update by delta marked the target of an untouched, health-checked route healthy")
	}
}
