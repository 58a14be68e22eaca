package admin

import (
	"net/http"
	"time"

	"github.com/torii-gateway/torii/otoroshi"

	"github.com/torii-gateway/torii/internal/jsonx"
)

// exportDoc builds the Otoroshi export of st.
func exportDoc(st *state, now time.Time) map[string]any {
	list := func(k kindID) []any {
		out := []any{}
		for _, e := range st.sorted(k) {
			out = append(out, e.doc)
		}
		return out
	}
	return otoroshi.Export(list(kRoutes), list(kGroups), list(kKeys), list(kExporters), st.globalDoc(), now)
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) error {
	st := s.cur.Load()
	body, err := jsonx.Encode(exportDoc(st, time.Now()))
	if err != nil {
		return err
	}
	// An export is a read, but Otoroshi audits it (it holds every secret).
	s.mu.Lock()
	ws := &writeSet{}
	s.audit(ws, r, "FULL_OTOROSHI_EXPORT", "", nil, nil, "exported the whole configuration")
	err = commit(s.db, nil, nil, ws.audits)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.emitAudits(ws.audits)
	w.Header().Set("ETag", stateETag(st))
	w.Header().Set("Content-Disposition", `attachment; filename="otoroshi.json"`)
	writeJSON(w, http.StatusOK, body)
	return nil
}
