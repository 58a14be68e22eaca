package admin

import (
	"net/http"
	"strconv"

	"github.com/torii-gateway/torii/otoroshi"
)

// endpoints is the whole API. The OpenAPI document (openapi.json) must list exactly these; a test
// checks it.
func (s *Server) endpoints() []endpoint {
	var eps []endpoint
	add := func(method, pattern string, h func(http.ResponseWriter, *http.Request) error) {
		eps = append(eps, endpoint{method: method, pattern: pattern, h: h})
	}
	for _, k := range kinds {
		// Each kind at its legacy path (/api/<path>) and, where Otoroshi has one, at its
		// /apis/<group>/<version>/<plural> path: the same handlers.
		bases := []string{"/api/" + k.path}
		if k.apis != "" {
			bases = append(bases, "/apis/"+k.apis)
		}
		for _, base := range bases {
			add(http.MethodGet, base, s.handleList(k, -1))
			add(http.MethodGet, base+"/{id}", s.handleGet(k, "id", -1))
			if k.stored {
				continue // kept as imported: read-only
			}
			add(http.MethodPost, base, s.handleCreate(k, -1))
			add(http.MethodGet, base+"/_template", s.handleTemplate(k))
			add(http.MethodPut, base+"/{id}", s.handleUpdate(k, "id", -1, false))
			add(http.MethodPatch, base+"/{id}", s.handleUpdate(k, "id", -1, true))
			add(http.MethodDelete, base+"/{id}", s.handleDelete(k, "id", -1))
		}
		if k.apis != "" {
			base := "/apis/" + k.apis
			add(http.MethodGet, base+"/_count", s.handleCount(k))
			if !k.stored {
				add(http.MethodPost, base+"/_bulk", s.handleBulk(k, bulkCreate))
				add(http.MethodPut, base+"/_bulk", s.handleBulk(k, bulkUpdate))
				add(http.MethodPatch, base+"/_bulk", s.handleBulk(k, bulkPatch))
				add(http.MethodDelete, base+"/_bulk", s.handleBulk(k, bulkDelete))
			}
		}
	}
	keys := kinds[kKeys]
	for _, parent := range []kindID{kGroups, kRoutes} {
		base := "/api/" + kinds[parent].path + "/{id}/apikeys"
		add(http.MethodGet, base, s.handleList(keys, parent))
		add(http.MethodPost, base, s.handleCreate(keys, parent))
		add(http.MethodGet, base+"/{clientId}", s.handleGet(keys, "clientId", parent))
		add(http.MethodPut, base+"/{clientId}", s.handleUpdate(keys, "clientId", parent, false))
		add(http.MethodPatch, base+"/{clientId}", s.handleUpdate(keys, "clientId", parent, true))
		add(http.MethodDelete, base+"/{clientId}", s.handleDelete(keys, "clientId", parent))
	}
	add(http.MethodGet, "/api/routes/{id}/targets", s.handleRouteTargets)
	add(http.MethodGet, "/api/apikeys/{id}/quotas", s.handleQuotasGet)
	add(http.MethodDelete, "/api/apikeys/{id}/quotas", s.handleQuotasReset)
	gc := "/apis/" + otoroshi.GlobalConfigAPIs
	add(http.MethodGet, gc, s.handleGlobalList)
	add(http.MethodGet, gc+"/_count", func(w http.ResponseWriter, _ *http.Request) error {
		return s.writeValue(w, http.StatusOK, map[string]any{"count": 1})
	})
	add(http.MethodGet, gc+"/_template", func(w http.ResponseWriter, _ *http.Request) error {
		return s.writeValue(w, http.StatusOK, globalTemplate())
	})
	add(http.MethodGet, gc+"/{id}", globalByID(s.handleGlobalGet))
	add(http.MethodPut, gc+"/{id}", globalByID(s.handleGlobalUpdate(false)))
	add(http.MethodPatch, gc+"/{id}", globalByID(s.handleGlobalUpdate(true)))
	add(http.MethodGet, "/api/globalconfig", s.handleGlobalGet)
	add(http.MethodPut, "/api/globalconfig", s.handleGlobalUpdate(false))
	add(http.MethodPatch, "/api/globalconfig", s.handleGlobalUpdate(true))
	add(http.MethodGet, "/api/otoroshi.json", s.handleExport)
	add(http.MethodPost, "/api/otoroshi.json", s.handleImport)
	add(http.MethodPost, "/api/import", s.handleImport)
	add(http.MethodGet, "/api/audit/events", s.handleAudit)
	add(http.MethodGet, "/api/events/stats", s.handleEventStats)
	add(http.MethodGet, "/api/live", s.handleLiveStats)
	add(http.MethodGet, "/api/live/{id}", s.handleLiveStream)
	add(http.MethodGet, "/api/session", s.handleWhoAmI)
	add(http.MethodGet, "/api/openapi.json", s.handleOpenAPI)
	add(http.MethodGet, "/ready", s.handleReady)
	add(http.MethodGet, "/metrics", s.handleMetrics)
	eps = append(eps,
		endpoint{method: http.MethodGet, pattern: "/health", public: true, h: s.handleHealth},
		endpoint{method: http.MethodGet, pattern: "/live", public: true, h: s.handleLive},
		// Login and logout run the Host/Origin check themselves (see session.go).
		endpoint{method: http.MethodPost, pattern: "/api/session", public: true, h: s.handleLogin},
		endpoint{method: http.MethodGet, pattern: "/api/session/sso", public: true, h: s.handleSSO},
		endpoint{method: http.MethodDelete, pattern: "/api/session", public: true, h: s.handleLogout},
	)
	return eps
}

// globalByID serves the global config at Otoroshi's /apis path, whose one id is "global".
func globalByID(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if id := r.PathValue("id"); id != otoroshi.GlobalConfigID {
			return errNotFound("global config " + strconv.Quote(id))
		}
		return h(w, r)
	}
}

// handleGlobalList answers the /apis list of global configs: the one global config.
func (s *Server) handleGlobalList(w http.ResponseWriter, _ *http.Request) error {
	return s.writeValue(w, http.StatusOK, []any{s.cur.Load().globalDoc()})
}
