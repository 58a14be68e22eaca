package admin

import (
	"net/http"
	"strconv"
)

// targetStatus is one compiled target of a route with its runtime state, as
// GET /api/routes/{id}/targets answers it (a Torii addition).
type targetStatus struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	Port     int    `json:"port"`
	Address  string `json:"address"` // resolved ip:port
	Weight   int    `json:"weight"`
	Backup   bool   `json:"backup"`
	// Healthy is the verdict of the active health check; true when the route has none.
	Healthy   bool    `json:"healthy"`
	Circuit   string  `json:"circuit"` // closed, open or half-open
	InFlight  int64   `json:"inFlight"`
	LatencyMs float64 `json:"latencyMs"` // EWMA of successful calls
	// State is "up", or why the target takes no request whatever its health: "unresolved" (its
	// hostname does not resolve; Address is then empty).
	State string `json:"state"`
}

// handleRouteTargets answers GET /api/routes/{id}/targets: the targets of a route of the
// published table with their health, circuit breaker state, requests in flight and latency.
// A route that is stored but not yet published is unknown here.
func (s *Server) handleRouteTargets(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c := s.published.Load()
	if c == nil {
		return errNotFound("route " + strconv.Quote(id))
	}
	rt := c.routes.Route(id)
	if rt == nil {
		return errNotFound("route " + strconv.Quote(id))
	}
	ups := rt.Upstreams()
	out := make([]targetStatus, 0, len(ups))
	for i := range ups {
		u := &ups[i]
		ts := targetStatus{
			ID: u.ID, Weight: u.Weight, Backup: u.Backup,
			Address: u.Addr.String(), Healthy: true, Circuit: "closed", State: "up",
		}
		if u.Down != "" {
			ts.State, ts.Address = u.Down, ""
		}
		if u.Target != nil {
			ts.Hostname, ts.Port = u.Target.Hostname, u.Target.Port
		}
		// The registry holds the live state the proxy and the health checker update; the
		// upstream's own pointer is the same object while this table is published.
		st := s.compiler.reg.Lookup(u.Key)
		if st == nil {
			st = u.State()
		}
		if st != nil {
			ts.Healthy = st.Healthy() || rt.HealthCheck() == nil
			ts.Circuit = st.Circuit().String()
			ts.InFlight = st.InFlight()
			ts.LatencyMs = float64(st.Latency().Microseconds()) / 1000
		}
		out = append(out, ts)
	}
	return s.writeValue(w, http.StatusOK, out)
}
