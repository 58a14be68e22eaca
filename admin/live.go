package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/torii-gateway/torii/core/metric"
)

func errNoLive() *APIError {
	return &APIError{Status: http.StatusNotImplemented, Code: "errors.not.implemented", Message: "live statistics are not wired to the admin API"}
}

// handleLiveStats answers Otoroshi's GET /api/live: the global live statistics, plus (a Torii
// addition) "routes": the statistics of every route by id.
func (s *Server) handleLiveStats(w http.ResponseWriter, _ *http.Request) error {
	if s.opts.Live == nil {
		return errNoLive()
	}
	global, routes := s.opts.Live.StatsAll()
	raw, err := json.Marshal(global)
	if err != nil {
		return fmt.Errorf("cannot encode live statistics: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("cannot encode live statistics: %w", err)
	}
	doc["routes"] = routes
	return s.writeValue(w, http.StatusOK, doc)
}

// handleLiveStream streams the live statistics of one route ("global" for all) as server-sent
// events, every ?every= milliseconds, until the client goes away.
func (s *Server) handleLiveStream(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Live == nil {
		return errNoLive()
	}
	id := r.PathValue("id")
	// A stream outlives the server's write timeout, which is meant for ordinary answers.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	err := s.opts.Live.ServeLive(w, r, id, metric.EveryFromQuery(r))
	if errors.Is(err, metric.ErrUnknownRoute) {
		return errNotFound("route " + strconv.Quote(id))
	}
	if err != nil {
		// The stream has started: the status is sent, only the log can say what happened.
		s.log.Debug("live stream ended", "route", id, "err", err)
	}
	return nil
}
