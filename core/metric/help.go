package metric

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// HELP text. promtool (and Prometheus's own linting) expects every family to
// have a HELP line with text and a TYPE line before its samples. The
// VictoriaMetrics library writes them only when ExposeMetadata is on, and then
// with an empty HELP; FillHelp completes those lines from the descriptions
// registered with Describe (and from a generic one for the Go runtime and
// process families that library writes).

func init() { metrics.ExposeMetadata(true) }

var helpMu sync.RWMutex

// helps maps a family name to its description.
var helps = map[string]string{
	"torii_admin_writes_total":                 "Admin API writes committed.",
	"torii_admin_compile_failures_total":       "Admin API writes refused because the configuration would not compile.",
	"torii_admin_snapshots_published_total":    "Configuration snapshots published to the proxy.",
	"torii_admin_auth_failures_total":          "Admin API requests refused for bad credentials.",
	"torii_admin_auth_throttled_total":         "Admin API requests refused because their client failed to authenticate too often.",
	"torii_events_recorded_total":              "Events recorded by the event loops.",
	"torii_events_dropped_total":               "Event records lost, by stage (ring: an event loop's ring was full).",
	"torii_events_published_total":             "Event documents handed to the exporters.",
	FamClientConnections:                       "Open client connections (sockets: an HTTP/2 connection counts once, whatever its streams).",
	"torii_gateway_requests_in_flight":         "Requests in flight across all event loops.",
	"torii_concurrent_requests_rejected_total": "Requests refused because the gateway's concurrent request limit was reached.",
}

// Describe registers the HELP text of a family registered with NewCounter,
// CounterFunc or GaugeFunc (or with the VictoriaMetrics default set). Safe
// for concurrent use.
func Describe(family, help string) {
	helpMu.Lock()
	helps[family] = help
	helpMu.Unlock()
}

// helpOf returns the description of family.
func helpOf(family string) string {
	helpMu.RLock()
	h := helps[family]
	helpMu.RUnlock()
	switch {
	case h != "":
		return h
	case strings.HasPrefix(family, "go_"):
		return "Go runtime statistic " + family + " (runtime/metrics, as written by github.com/VictoriaMetrics/metrics)."
	case strings.HasPrefix(family, "process_"):
		return "Process statistic " + family + " from /proc (as written by github.com/VictoriaMetrics/metrics)."
	default:
		return family + " (no description registered)."
	}
}

// renamed are the VictoriaMetrics library's Go runtime families whose names
// break Prometheus's naming rules (a counter ends in _total; only histograms
// and summaries end in _count): FillHelp writes them under these names.
var renamed = map[string]string{
	"go_cgo_calls_count": "go_cgo_calls_total",
	"go_gc_forced_count": "go_gc_forced_total",
	"go_cpu_count":       "go_cpus",
}

// FillHelp copies Prometheus text from text to w, completing each HELP line
// that has no text with the family's description. It also fixes what the
// VictoriaMetrics library writes against Prometheus's naming rules: the
// process_io_*_total families are typed counter (they are monotonic; the
// library types them gauge) and the families of renamed get their new names.
func FillHelp(w io.Writer, text []byte) {
	out := make([]byte, 0, len(text)+4096)
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i+1], text[i+1:]
		} else {
			text = nil
		}
		line = renameLine(line)
		if rest, ok := bytes.CutPrefix(line, []byte("# TYPE ")); ok {
			if name, typ, ok := strings.Cut(strings.TrimRight(string(rest), "\n"), " "); ok && typ == "gauge" && strings.HasSuffix(name, "_total") {
				line = []byte("# TYPE " + name + " counter\n")
			}
		}
		if rest, ok := bytes.CutPrefix(line, []byte("# HELP ")); ok {
			name := strings.TrimRight(string(rest), "\n")
			if name != "" && !strings.Contains(name, " ") {
				out = append(out, "# HELP "...)
				out = append(out, name...)
				out = append(out, ' ')
				out = append(out, helpOf(name)...)
				out = append(out, '\n')
				continue
			}
		}
		out = append(out, line...)
	}
	_, _ = w.Write(out)
}

// funcFamily is one family of CounterFunc or GaugeFunc members, written
// together with one HELP and one TYPE line.
type funcFamily struct {
	name, typ string
	members   []funcMember
}

type funcMember struct {
	labels string // `k="v",...` as registered, without braces
	f      func() float64
}

// addFunc registers one member of a callback family.
func (s *Set) addFunc(name, typ string, f func() float64) {
	family, labels := name, ""
	if i := strings.IndexByte(name, '{'); i >= 0 && strings.HasSuffix(name, "}") {
		family, labels = name[:i], name[i+1:len(name)-1]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.funcs {
		if s.funcs[i].name == family {
			s.funcs[i].members = append(s.funcs[i].members, funcMember{labels, f})
			return
		}
	}
	s.funcs = append(s.funcs, funcFamily{name: family, typ: typ, members: []funcMember{{labels, f}}})
}

// writeFuncs writes the callback families.
func (s *Set) writeFuncs(w io.Writer, buf []byte) []byte {
	s.mu.Lock()
	fams := make([]funcFamily, len(s.funcs))
	for i, f := range s.funcs {
		fams[i] = funcFamily{name: f.name, typ: f.typ, members: append([]funcMember(nil), f.members...)}
	}
	s.mu.Unlock()
	for _, fam := range fams {
		buf = appendHeader(buf[:0], fam.name, helpOf(fam.name), fam.typ)
		for _, m := range fam.members {
			buf = appendSample(buf, fam.name, m.labels)
			buf = strconv.AppendFloat(buf, m.f(), 'g', -1, 64)
			buf = append(buf, '\n')
		}
		_, _ = w.Write(buf)
	}
	return buf
}

// renameLine returns line with a family of renamed replaced, in a sample or
// a HELP or TYPE line.
func renameLine(line []byte) []byte {
	if !bytes.HasPrefix(line, []byte("go_")) && !bytes.HasPrefix(line, []byte("# ")) {
		return line
	}
	for old, name := range renamed {
		for _, pre := range []string{"", "# HELP ", "# TYPE "} {
			if rest, ok := bytes.CutPrefix(line, []byte(pre+old)); ok && len(rest) > 0 && (rest[0] == ' ' || rest[0] == '{' || rest[0] == '\n') {
				return append([]byte(pre+name), rest...)
			}
		}
	}
	return line
}
