package admin

import (
	"net/http"
	"time"

	"github.com/torii-gateway/torii/otoroshi"

	"github.com/torii-gateway/torii/internal/jsonx"
)

// exportDoc builds the Otoroshi export of st: every kind, the global config and the extra fields
// of the last import.
func exportDoc(st *state, now time.Time) map[string]any {
	lists := make(map[string][]any, len(kinds))
	for _, k := range kinds {
		out := []any{}
		for _, e := range st.sorted(k.id) {
			out = append(out, e.doc())
		}
		lists[k.array] = out
	}
	var extra map[string]any
	if st.extra != nil {
		extra = st.extra.doc()
	}
	return otoroshi.Export(lists, st.globalDoc(), extra, now)
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
