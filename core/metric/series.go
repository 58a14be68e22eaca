package metric

import (
	"strconv"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
)

// Route series cardinality. A gateway may hold 100k routes of which a few
// hundred see traffic; a series per configured route would make /metrics
// hundreds of thousands of lines, most of them zeros, and each route costs
// about 80 lines (6 status classes, 4 counters, 3 histograms of 21 buckets).
// So per-route series are written only for routes that received traffic
// since the process started, at most RouteSeriesMax of them; the rest, and
// every route when per-route series are off, are summed into one series
// labelled route="other".

// DefaultRouteSeriesMax is the default cap on routes with their own series:
// about 8,000 lines of route families, under Prometheus's habitual 10k-line
// comfort zone for one target.
const DefaultRouteSeriesMax = 100

// OtherRoute is the route label of the series that sum the routes without
// a series of their own. A route whose id is "other" is always summed there.
const OtherRoute = "other"

// maxRouteLabel bounds the route label value in bytes: a longer id is cut
// at a character boundary and suffixed with "~" and 16 hex digits of its
// xxhash, so two long ids sharing a prefix still get distinct labels. It
// stops a route id from inflating every line of every scrape.
const maxRouteLabel = 128

// SetRouteSeries sets the cap on routes with their own series (max < 0
// means DefaultRouteSeriesMax; 0 folds every route into route="other", as
// perRoute=false does). Safe to call at any time; it applies from the next
// scrape. Routes already given a series keep it while there is room.
func (s *Set) SetRouteSeries(max int, perRoute bool) {
	if max < 0 {
		max = DefaultRouteSeriesMax
	}
	if !perRoute {
		max = 0
	}
	s.seriesMax.Store(int64(max))
}

// RouteLabel returns the route label value written for route id: id itself
// when it is at most 128 bytes of valid UTF-8, else a bounded, distinct
// form of it (see maxRouteLabel).
func RouteLabel(id string) string {
	if len(id) <= maxRouteLabel && utf8.ValidString(id) {
		return id
	}
	sum := strconv.FormatUint(xxhash.Sum64String(id), 16)
	cut := min(len(id), maxRouteLabel-17)
	for cut > 0 && cut < len(id) && !utf8.RuneStart(id[cut]) {
		cut--
	}
	out := make([]byte, 0, maxRouteLabel+8)
	for _, r := range id[:cut] { // invalid bytes come as U+FFFD

		if len(out)+utf8.RuneLen(r) > maxRouteLabel-17 {
			break
		}
		out = utf8.AppendRune(out, r)
	}
	out = append(out, '~')
	for i := len(sum); i < 16; i++ {
		out = append(out, '0')
	}
	return string(append(out, sum...))
}

// hasTraffic reports whether the route has answered or is serving a
// request since the process started. It reads the class counters and the
// in-flight gauge only, so checking 100k routes takes about a millisecond.
func (m *RouteMetrics) hasTraffic() bool {
	d := m.data.Load()
	if d == nil {
		return false
	}
	for i := range d.shards {
		sh := &d.shards[i]
		if sh.inFlight.Load() != 0 {
			return true
		}
		for c := range sh.class {
			if sh.class[c].Load() != 0 {
				return true
			}
		}
	}
	return false
}

// routeSeries is one written route series: its label and the sum of the
// routes it stands for.
type routeSeries struct {
	label string
	snap  routeSnapshot
}

// pickSeries chooses the series of one scrape. Routes with traffic keep the
// series they had at the previous scrape; new ones get one while fewer than
// the cap have one, in id order; the rest are summed into route="other",
// written last and only when some route was folded. Unmatched requests
// (NoRouteID) always have their own series. Deleted routes free their place.
func (s *Set) pickSeries() []routeSeries {
	s.scrapeMu.Lock()
	defer s.scrapeMu.Unlock()
	if s.shown == nil {
		s.shown = make(map[string]uint64)
	}
	s.scrapes++
	gen, max := s.scrapes, int(s.seriesMax.Load())
	var out []routeSeries
	var other routeSnapshot
	folded := false
	routes := s.Routes()
	// First pass: routes that already have a series keep it (within the cap,
	// which may have been lowered).
	kept := 0
	for _, m := range routes {
		if _, ok := s.shown[m.id]; ok && m.id != NoRouteID && kept < max && m.hasTraffic() {
			s.shown[m.id] = gen
			kept++
		}
	}
	for _, m := range routes {
		if !m.hasTraffic() {
			continue
		}
		own := m.id == NoRouteID
		if !own && m.id != OtherRoute {
			if g, ok := s.shown[m.id]; ok && g == gen {
				own = true
			} else if kept < max {
				s.shown[m.id] = gen
				kept++
				own = true
			}
		}
		if own {
			out = append(out, routeSeries{label: RouteLabel(m.id), snap: m.snapshot()})
			continue
		}
		other.add(m)
		folded = true
	}
	for id, g := range s.shown {
		if g != gen {
			delete(s.shown, id)
		}
	}
	if folded {
		out = append(out, routeSeries{label: OtherRoute, snap: other})
	}
	return out
}
