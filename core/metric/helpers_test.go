package metric

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSyncRoutesAndHelpers(t *testing.T) {
	s := NewSet(2)
	s.ExposeProcessMetrics(false)
	old := s.Route("gone")
	none := s.Route(NoRouteID)
	ms := s.SyncRoutes([]string{"b", "a", "b"})
	if len(ms) != 3 || ms[0] != ms[2] || ms[0].ID() != "b" || ms[1].ID() != "a" {
		t.Fatalf("SyncRoutes returned %v", ms)
	}
	if got := fmt.Sprint(ids(s.Routes())); got != "[_none a b]" {
		t.Fatalf("exported routes %s", got)
	}
	ms[1].Begin(0)
	ms[1].Done(0, 200, 1, 1, time.Millisecond, 0, time.Millisecond)
	if again := s.SyncRoutes([]string{"a", "gone"}); again[0] != ms[1] || again[1] != old || s.Routes()[0] != none {
		t.Fatalf("SyncRoutes did not reuse metrics by id")
	}
	s.RegisterClientConnections(func() int64 { return 12 })
	s.RegisterUpstreamPools(func(emit func(string, int, int)) {
		emit("127.0.0.1:3000", 8, 3)
		emit("127.0.0.1:3001", 2, 2)
	})
	s.RegisterCircuitBreakers(func(emit func(string, string, bool)) {
		emit("a", "127.0.0.1:3000", true)
		emit("a", "127.0.0.1:3001", false)
	})
	var b bytes.Buffer
	s.WritePrometheus(&b)
	got, types := parseProm(t, b.String())
	f := func(series string, want float64) {
		t.Helper()
		if v, ok := got[series]; !ok || v != want {
			t.Fatalf("%s = %v (present %v), want %v\n%s", series, v, ok, want, b.String())
		}
	}
	f(`torii_http_requests_total{route="a",class="2xx"}`, 1)
	if _, ok := got[`torii_http_requests_total{route="gone",class="2xx"}`]; ok {
		t.Fatalf("route gone, which had no traffic, has series")
	}
	f(FamClientConnections, 12)
	f(FamUpstreamPoolSize+`{target="127.0.0.1:3000"}`, 8)
	f(FamUpstreamPoolIdle+`{target="127.0.0.1:3000"}`, 3)
	f(FamUpstreamPoolIdle+`{target="127.0.0.1:3001"}`, 2)
	f(FamCircuitOpen+`{route="a",target="127.0.0.1:3000"}`, 1)
	f(FamCircuitOpen+`{route="a",target="127.0.0.1:3001"}`, 0)
	if _, ok := got[`torii_http_requests_total{route="b",class="2xx"}`]; ok {
		t.Fatalf("route b still exported after SyncRoutes dropped it")
	}
	if types[FamCircuitOpen] != "gauge" {
		t.Fatalf("types %v", types)
	}
}

func ids(ms []*RouteMetrics) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID())
	}
	return out
}

func TestEveryFromQuery(t *testing.T) {
	f := func(query string, want time.Duration) {
		t.Helper()
		r := httptest.NewRequest("GET", "/api/live/r1"+query, nil)
		if got := EveryFromQuery(r); got != want {
			t.Fatalf("%q: %v, want %v", query, got, want)
		}
	}
	f("", DefaultEvery)
	f("?every=250", 250*time.Millisecond)
	f("?every=-5", DefaultEvery)
	f("?every=abc", DefaultEvery)
}
