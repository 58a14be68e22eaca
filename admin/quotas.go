package admin

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/torii-gateway/torii/core/quota"
)

// limitsOf reads the three quotas of an API key document; missing or bad values are unlimited.
func limitsOf(doc map[string]any) quota.Limits {
	get := func(key string) int64 {
		if n, ok := doc[key].(json.Number); ok {
			if i, err := n.Int64(); err == nil && i >= 0 {
				return i
			}
		}
		return quota.Unlimited
	}
	return quota.Limits{Throttle: get("throttlingQuota"), Daily: get("dailyQuota"), Monthly: get("monthlyQuota")}
}

func (s *Server) handleQuotasGet(w http.ResponseWriter, r *http.Request) error {
	return s.quotas(w, r, false)
}

// handleQuotasReset zeroes the counters of a key (audited) and answers the usage after the reset.
func (s *Server) handleQuotasReset(w http.ResponseWriter, r *http.Request) error {
	return s.quotas(w, r, true)
}

func (s *Server) quotas(w http.ResponseWriter, r *http.Request, reset bool) error {
	id := r.PathValue("id")
	e, ok := s.cur.Load().ents[kKeys].Get(id)
	if !ok {
		return errNotFound("apikey " + strconv.Quote(id))
	}
	if s.opts.Quotas == nil {
		return &APIError{Status: http.StatusNotImplemented, Code: "errors.not.implemented", Message: "quota counters are not wired to the admin API"}
	}
	if reset {
		s.mu.Lock()
		ws := &writeSet{}
		s.audit(ws, r, "RESET_APIKEY_QUOTAS", id, nil, nil, "reset the quotas of apikey "+id)
		err := commit(s.db, nil, nil, ws.audits)
		if err == nil {
			s.opts.Quotas.Reset(id)
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
		s.emitAudits(ws.audits)
	}
	return s.writeValue(w, http.StatusOK, s.opts.Quotas.Usage(id, limitsOf(e.doc()), time.Now()))
}
