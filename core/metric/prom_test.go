package metric

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseProm parses Prometheus text exposition format strictly: valid metric
// and label names, quoted label values with only \\ \" \n escapes, a float
// value, at most one TYPE per family given before its samples, a family's
// samples contiguous once typed, and no duplicate series. It returns the
// samples by series text (`name{labels}` as written) and the family types.
func parseProm(t *testing.T, text string) (map[string]float64, map[string]string) {
	t.Helper()
	samples := map[string]float64{}
	types := map[string]string{}
	closed := map[string]bool{} // typed families whose samples ended
	last := ""
	for ln, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(msg string) { t.Fatalf("line %d %q: %s", ln+1, line, msg) }
		if line == "" {
			fail("empty line")
		}
		if strings.HasPrefix(line, "#") {
			f := strings.SplitN(line, " ", 4)
			if len(f) < 3 || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // a plain comment
			}
			if !validName(f[2], true) {
				fail("bad family name")
			}
			if f[1] == "TYPE" {
				if len(f) != 4 {
					fail("TYPE without type")
				}
				switch f[3] {
				case "counter", "gauge", "histogram", "summary", "untyped":
				default:
					fail("unknown type")
				}
				if _, dup := types[f[2]]; dup {
					fail("second TYPE for family")
				}
				types[f[2]] = f[3]
			}
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if !validName(name, true) {
			fail("bad metric name")
		}
		series := name
		if strings.HasPrefix(rest, "{") {
			end, err := scanLabels(rest)
			if err != nil {
				fail(err.Error())
			}
			series += rest[:end]
			rest = rest[end:]
		}
		if !strings.HasPrefix(rest, " ") {
			fail("no space before value")
		}
		fields := strings.Fields(rest)
		if len(fields) < 1 || len(fields) > 2 {
			fail("want value [timestamp]")
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			fail("bad value: " + err.Error())
		}
		if _, dup := samples[series]; dup {
			fail("duplicate series")
		}
		samples[series] = v
		fam := familyOf(name, types)
		if closed[fam] {
			fail("family " + fam + " samples not contiguous")
		}
		if last != "" && last != fam {
			if _, typed := types[last]; typed {
				closed[last] = true
			}
		}
		last = fam
	}
	return samples, types
}

func familyOf(name string, types map[string]string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if typ := types[base]; typ == "histogram" || typ == "summary" {
				return base
			}
		}
	}
	return name
}

func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9') || (colon && c == ':')
		if !ok {
			return false
		}
	}
	return true
}

// scanLabels checks `{name="value",...}` at the start of s and returns its length.
func scanLabels(s string) (int, error) {
	i := 1
	seen := map[string]bool{}
	for {
		if i < len(s) && s[i] == '}' {
			return i + 1, nil
		}
		j := strings.IndexByte(s[i:], '=')
		if j < 0 {
			return 0, fmt.Errorf("label without =")
		}
		name := s[i : i+j]
		if !validName(name, false) {
			return 0, fmt.Errorf("bad label name %q", name)
		}
		if seen[name] {
			return 0, fmt.Errorf("duplicate label %q", name)
		}
		seen[name] = true
		i += j + 1
		if i >= len(s) || s[i] != '"' {
			return 0, fmt.Errorf("label value not quoted")
		}
		i++
		for {
			if i >= len(s) {
				return 0, fmt.Errorf("unterminated label value")
			}
			if s[i] == '\\' {
				if i+1 >= len(s) || !strings.ContainsRune(`\"n`, rune(s[i+1])) {
					return 0, fmt.Errorf("bad escape in label value")
				}
				i += 2
				continue
			}
			if s[i] == '\n' {
				return 0, fmt.Errorf("raw newline in label value")
			}
			if s[i] == '"' {
				i++
				break
			}
			i++
		}
		if i < len(s) && s[i] == ',' {
			i++
			for i < len(s) && s[i] == ' ' { // the format allows blanks between pairs
				i++
			}
		} else if i >= len(s) || s[i] != '}' {
			return 0, fmt.Errorf("want , or } after label")
		}
	}
}

func TestWritePrometheus(t *testing.T) {
	s := NewSet(4)
	r1 := s.Route("r1")
	r2 := s.Route(`odd"route\id`)
	for i := range 10 {
		r1.Begin(i)
		r1.Done(i, 200, 100, 1000, 3*time.Millisecond, 2*time.Millisecond, time.Millisecond)
	}
	r1.Begin(1)
	r1.Done(1, 503, 10, 20, 30*time.Microsecond, 0, 30*time.Microsecond)
	r1.Begin(2) // still in flight
	r1.QuotaRejected(3)
	r2.Begin(0)
	r2.Done(0, 0, 0, 0, time.Minute, time.Minute, 0)
	var active int64 = 7
	s.GaugeFunc(`torii_client_connections_active`, func() float64 { return float64(active) })
	s.CounterFunc(`torii_events_dropped_total{stage="ring"}`, func() uint64 { return 42 })
	s.GaugeVecFunc("torii_upstream_pool_idle", "Idle pooled connections per target.", []string{"target"}, func(emit func(float64, ...string)) {
		emit(3, "127.0.0.1:3000")
		emit(0, "[::1]:3001")
	})
	c := s.NewCounter(`torii_exporter_errors_total{exporter="w1"}`)
	c.Add(5)

	var b bytes.Buffer
	s.WritePrometheus(&b)
	got, types := parseProm(t, b.String())

	f := func(series string, want float64) {
		t.Helper()
		v, ok := got[series]
		if !ok {
			t.Fatalf("series %s missing", series)
		}
		if math.Abs(v-want) > 1e-9 {
			t.Fatalf("%s = %v, want %v", series, v, want)
		}
	}
	f(`torii_http_requests_total{route="r1",class="2xx"}`, 10)
	f(`torii_http_requests_total{route="r1",class="5xx"}`, 1)
	f(`torii_http_requests_total{route="r1",class="4xx"}`, 0)
	f(`torii_http_requests_total{route="odd\"route\\id",class="other"}`, 1)
	f(`torii_http_requests_in_flight{route="r1"}`, 1)
	f(`torii_http_request_bytes_total{route="r1"}`, 1010)
	f(`torii_http_response_bytes_total{route="r1"}`, 10020)
	f(`torii_quota_rejections_total{route="r1"}`, 1)
	// 30µs falls in the first bucket, 3ms in (1.6ms, 3.2ms].
	f(`torii_http_request_duration_seconds_bucket{route="r1",le="5e-05"}`, 1)
	f(`torii_http_request_duration_seconds_bucket{route="r1",le="0.0016"}`, 1)
	f(`torii_http_request_duration_seconds_bucket{route="r1",le="0.0032"}`, 11)
	f(`torii_http_request_duration_seconds_bucket{route="r1",le="+Inf"}`, 11)
	f(`torii_http_request_duration_seconds_count{route="r1"}`, 11)
	f(`torii_http_request_duration_seconds_sum{route="r1"}`, 0.03003)
	f(`torii_http_backend_duration_seconds_sum{route="r1"}`, 0.02)
	f(`torii_http_overhead_duration_seconds_count{route="r1"}`, 11)
	// A minute is past the largest bound: only +Inf holds it.
	f(`torii_http_request_duration_seconds_bucket{route="odd\"route\\id",le="26.2144"}`, 0)
	f(`torii_http_request_duration_seconds_bucket{route="odd\"route\\id",le="+Inf"}`, 1)
	f(`torii_client_connections_active`, 7)
	f(`torii_events_dropped_total{stage="ring"}`, 42)
	f(`torii_upstream_pool_idle{target="127.0.0.1:3000"}`, 3)
	f(`torii_upstream_pool_idle{target="[::1]:3001"}`, 0)
	f(`torii_exporter_errors_total{exporter="w1"}`, 5)
	if types[famTotal] != "histogram" || types[famRequests] != "counter" || types["torii_upstream_pool_idle"] != "gauge" {
		t.Fatalf("family types: %v", types)
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Fatalf("runtime metrics missing")
	}

	// Buckets are cumulative: never decreasing, ending at _count.
	prev := -1.0
	for i := range numBuckets {
		le := "+Inf"
		if i < boundBuckets {
			le = bucketBounds[i]
		}
		v := got[`torii_http_request_duration_seconds_bucket{route="r1",le="`+le+`"}`]
		if v < prev {
			t.Fatalf("bucket le=%s = %v after %v", le, v, prev)
		}
		prev = v
	}

	// Pruned routes disappear from the output but keep their counters.
	s.PruneRoutes(func(id string) bool { return id != "r1" })
	s.ExposeProcessMetrics(false)
	b.Reset()
	s.WritePrometheus(&b)
	got, _ = parseProm(t, b.String())
	if _, ok := got[`torii_http_requests_total{route="r1",class="2xx"}`]; ok {
		t.Fatalf("pruned route still written")
	}
	if _, ok := got["go_goroutines"]; ok {
		t.Fatalf("runtime metrics written after ExposeProcessMetrics(false)")
	}
	if s.Route("r1") != r1 {
		t.Fatalf("Route returned a new RouteMetrics for a known id")
	}
	b.Reset()
	s.WritePrometheus(&b)
	got, _ = parseProm(t, b.String())
	f(`torii_http_requests_total{route="r1",class="2xx"}`, 10)
}

func TestBucketOf(t *testing.T) {
	f := func(d time.Duration, want int) {
		t.Helper()
		if got := bucketOf(int64(d)); got != want {
			t.Fatalf("bucketOf(%v) = %d, want %d", d, got, want)
		}
	}
	f(0, 0)
	f(50*time.Microsecond, 0)
	f(50*time.Microsecond+1, 1)
	f(100*time.Microsecond, 1)
	f(100*time.Microsecond+1, 2)
	f(200*time.Microsecond, 2)
	f(bucketBase<<(boundBuckets-1), boundBuckets-1)
	f(bucketBase<<(boundBuckets-1)+1, boundBuckets)
	f(time.Hour, boundBuckets)
}
