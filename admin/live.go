package admin

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/torii-gateway/torii/core/metric"
)

func errNoLive() *APIError {
	return &APIError{Status: http.StatusNotImplemented, Code: "errors.not.implemented", Message: "live statistics are not wired to the admin API"}
}

// handleLive answers Otoroshi's GET /api/live: the global live statistics.
func (s *Server) handleLiveStats(w http.ResponseWriter, _ *http.Request) error {
	if s.opts.Live == nil {
		return errNoLive()
	}
	st, err := s.opts.Live.Stats("")
	if err != nil {
		return err
	}
	return s.writeValue(w, http.StatusOK, st)
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
