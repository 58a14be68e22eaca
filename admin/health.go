package admin

import (
	"bytes"
	_ "embed"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"go.etcd.io/bbolt"

	"github.com/torii-gateway/torii/core/metric"
)

var (
	metricWrites       = metrics.GetOrCreateCounter("torii_admin_writes_total")
	metricWriteRefused = metrics.GetOrCreateCounter("torii_admin_compile_failures_total")
	metricPublished    = metrics.GetOrCreateCounter("torii_admin_snapshots_published_total")
)

// handleHealth answers Otoroshi's health body; the datastore is healthy when a read transaction
// opens.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) error {
	ds := "healthy"
	status := http.StatusOK
	if err := s.db.View(func(*bbolt.Tx) error { return nil }); err != nil {
		ds, status = "unhealthy", http.StatusServiceUnavailable
	}
	return s.writeValue(w, status, map[string]any{"otoroshi": "healthy", "datastore": ds})
}

func (s *Server) handleLive(w http.ResponseWriter, _ *http.Request) error {
	return s.writeValue(w, http.StatusOK, map[string]any{"live": true})
}

// handleReady is 200 once a snapshot was published, 503 with the reason otherwise.
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) error {
	if s.ready.Load() {
		return s.writeValue(w, http.StatusOK, map[string]any{"ready": true})
	}
	reason := "no snapshot published yet"
	if p := s.lastErr.Load(); p != nil {
		reason = *p
	}
	return s.writeValue(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": reason})
}

// handleMetrics writes the admin's and the proxy's metrics in Prometheus text format, or as a JSON
// object {"series{labels}": value} when asked with ?format=json or an Accept that prefers JSON.
// ?format=prometheus and Accept: application/prometheus (Otoroshi's ways to ask) give the text.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	asJSON, err := metricsWantJSON(r)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	// The proxy's Set writes the go_* and process_* families itself: writing them here too
	// would repeat every series, and Prometheus refuses a scrape with duplicates.
	var own bytes.Buffer
	metrics.WritePrometheus(&own, s.opts.Metrics == nil)
	metric.FillHelp(&buf, own.Bytes())
	if s.opts.Metrics != nil {
		s.opts.Metrics.WritePrometheus(&buf)
	}
	if asJSON {
		return s.writeValue(w, http.StatusOK, prometheusToJSON(buf.Bytes()))
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
	return nil
}

// metricsWantJSON reads the format from ?format= (prometheus or json), else from Accept.
func metricsWantJSON(r *http.Request) (bool, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "prometheus", "text":
		return false, nil
	case "json":
		return true, nil
	case "":
	default:
		return false, errBadRequest("format must be prometheus or json, not " + strconv.Quote(f))
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "prometheus") &&
		!strings.Contains(accept, "text/plain") && !strings.Contains(accept, "openmetrics"), nil
}

// prometheusToJSON maps each sample line "name{labels} value" of a Prometheus text exposition to
// its value; comments are left out, and a value that does not parse is kept as a string.
func prometheusToJSON(text []byte) map[string]any {
	out := map[string]any{}
	for _, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		series, val := strings.TrimSpace(line[:i]), line[i+1:]
		if v, err := strconv.ParseFloat(val, 64); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			out[series] = v
		} else {
			out[series] = val
		}
	}
	return out
}

// handleAudit lists audit events, newest first, with page and pageSize (default 100).
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := positiveParam(q, "page", 1)
	if err != nil {
		return err
	}
	pageSize, err := positiveParam(q, "pageSize", 100)
	if err != nil {
		return err
	}
	pageSize = min(pageSize, auditCap)
	offset := min(int64(page-1)*int64(pageSize), auditCap)
	events, total, err := readAudit(s.db, int(offset), pageSize)
	if err != nil {
		return err
	}
	body := []byte{'['}
	for i, ev := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, ev...)
	}
	body = append(body, ']')
	w.Header().Set("X-Count", strconv.Itoa(total))
	writeJSON(w, http.StatusOK, body)
	return nil
}

//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, openAPIDoc)
	return nil
}
