package admin

import (
	_ "embed"
	"net/http"
	"strconv"

	"github.com/VictoriaMetrics/metrics"
	"go.etcd.io/bbolt"
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

// handleMetrics writes every registered metric in Prometheus text format.
func (s *Server) handleMetrics(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	metrics.WritePrometheus(w, true)
	if s.opts.Metrics != nil {
		s.opts.Metrics.WritePrometheus(w)
	}
	return nil
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
