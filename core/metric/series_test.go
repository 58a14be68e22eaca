package metric

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hit records one 200 answer on m.
func hit(m *RouteMetrics) {
	m.Begin(0)
	m.Done(0, 200, 10, 20, time.Millisecond, time.Millisecond/2, time.Millisecond/2)
}

func scrape(t *testing.T, s *Set) (string, map[string]float64) {
	t.Helper()
	var b bytes.Buffer
	s.WritePrometheus(&b)
	if b.Len() == 0 {
		return "", nil
	}
	got, _ := parseProm(t, b.String())
	return b.String(), got
}

func TestRouteSeriesOnlyWithTrafficAndCapped(t *testing.T) {
	s := NewSet(2)
	s.ExposeProcessMetrics(false)
	s.SetRouteSeries(3, true)
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("route_%04d", i)
	}
	ms := s.SyncRoutes(ids)
	text, got := scrape(t, s)
	if strings.Contains(text, "route_") {
		t.Fatalf("routes without traffic have series:\n%.500s", text)
	}
	for _, i := range []int{500, 7, 999, 3, 4} {
		hit(ms[i])
	}
	hit(ms[7])
	_, got = scrape(t, s)
	f := func(series string, want float64) {
		t.Helper()
		if v, ok := got[series]; !ok || v != want {
			t.Fatalf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	// The cap gives series to the first three in id order; the other two fold.
	f(`torii_http_requests_total{route="route_0003",class="2xx"}`, 1)
	f(`torii_http_requests_total{route="route_0004",class="2xx"}`, 1)
	f(`torii_http_requests_total{route="route_0007",class="2xx"}`, 2)
	f(`torii_http_requests_total{route="other",class="2xx"}`, 2)
	f(`torii_http_request_bytes_total{route="other"}`, 20)
	f(`torii_http_request_duration_seconds_count{route="other"}`, 2)
	if _, ok := got[`torii_http_requests_total{route="route_0500",class="2xx"}`]; ok {
		t.Fatal("route_0500 has a series past the cap")
	}
	// A route that got a series keeps it when a lower id starts receiving traffic.
	hit(ms[1])
	_, got = scrape(t, s)
	f(`torii_http_requests_total{route="route_0003",class="2xx"}`, 1)
	f(`torii_http_requests_total{route="other",class="2xx"}`, 3)
	// Deleting a route frees its place.
	s.SyncRoutes(append(append([]string{}, ids[:3]...), ids[4:]...))
	_, got = scrape(t, s)
	f(`torii_http_requests_total{route="route_0001",class="2xx"}`, 1)
	// Per-route series off: everything folds into route="other".
	s.SetRouteSeries(-1, false)
	text, got = scrape(t, s)
	if strings.Contains(text, "route_") {
		t.Fatalf("per-route series are off but some are written:\n%.500s", text)
	}
	f(`torii_http_requests_total{route="other",class="2xx"}`, 6) // 7 hits, 1 on the deleted route_0003
}

func TestMetricsLinesAt100kRoutes(t *testing.T) {
	s := NewSet(2)
	s.ExposeProcessMetrics(false)
	ids := make([]string, 100_000)
	for i := range ids {
		ids[i] = fmt.Sprintf("route_%06d", i)
	}
	ms := s.SyncRoutes(ids)
	for i := 0; i < len(ms); i += 100 { // 1,000 active routes
		hit(ms[i])
	}
	s.RegisterCircuitBreakers(func(emit func(string, string, bool)) {
		for i, id := range ids {
			emit(id, "t1", i%1000 == 1)
		}
	})
	text, got := scrape(t, s)
	lines := strings.Count(text, "\n")
	if lines >= 10_000 {
		t.Fatalf("/metrics at 100k routes with 1,000 active: %d lines, want < 10,000", lines)
	}
	if v := got[`torii_http_requests_total{route="other",class="2xx"}`]; v != 1000-DefaultRouteSeriesMax {
		t.Fatalf("other 2xx = %v, want %d", v, 1000-DefaultRouteSeriesMax)
	}
	if v := got[FamCircuitOpen+`{route="other",target=""}`]; v != 100 {
		t.Fatalf("open breakers of routes without series = %v, want 100", v)
	}
	t.Logf("%d lines", lines)
}

func TestRouteLabelBounded(t *testing.T) {
	f := func(id string) string {
		t.Helper()
		l := RouteLabel(id)
		if len(l) > maxRouteLabel || !utf8.ValidString(l) {
			t.Fatalf("RouteLabel(%q) = %q: %d bytes, valid %v", id, l, len(l), utf8.ValidString(l))
		}
		return l
	}
	if f("route_1") != "route_1" {
		t.Fatal("a short id is not its own label")
	}
	long := strings.Repeat("é", 200)
	a, b := f(long+"a"), f(long+"b")
	if a == b {
		t.Fatal("two long ids with the same prefix share a label")
	}
	if f("bad\xffid") == "bad\xffid" {
		t.Fatal("invalid UTF-8 kept")
	}
}
