package admin

import (
	"net/http"
	"time"
)

// exportKinds are the arrays of an Otoroshi export that Torii does not manage; exports carry them
// empty so Otoroshi can read the file.
var exportEmpty = []string{"admins", "simpleAdmins", "serviceDescriptors", "errorTemplates", "jwtVerifiers",
	"authConfigs", "certificates", "clientValidators", "scripts", "tcpServices", "tenants",
	"teams", "services", "backends", "targets"}

// exportDoc builds the Otoroshi export of st.
func exportDoc(st *state, now time.Time) map[string]any {
	list := func(k kindID) []any {
		out := []any{}
		for _, e := range st.sorted(k) {
			out = append(out, e.doc)
		}
		return out
	}
	doc := map[string]any{
		"label":         "Otoroshi export",
		"dateRaw":       now.UnixMilli(),
		"date":          now.UTC().Format("2006-01-02 15:04:05"),
		"config":        st.globalDoc(),
		"routes":        list(kRoutes),
		"serviceGroups": list(kGroups),
		"apiKeys":       list(kKeys),
		"dataExporters": list(kExporters),
	}
	for _, k := range exportEmpty {
		doc[k] = []any{}
	}
	return doc
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) error {
	st := s.cur.Load()
	body, err := encodeJSON(exportDoc(st, time.Now()))
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
