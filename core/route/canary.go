package route

import (
	"encoding/json"
	"fmt"
	"math"
)

// canary is a route's CanaryMode plugin (Otoroshi's NgCanarySettings): a
// share of the clients (traffic, 0 to 1) goes to other targets, with another
// backend root. The targets are compiled like the route's own, into a pool
// of their own (resolved at compile time, circuit breakers in the Registry
// under the route id + "~canary"); they are not health-checked.
type canary struct {
	traffic float64
	root    string
	pool    *pool
}

// canarySuffix is added to the route id to make the id of its canary pool's targets.
const canarySuffix = "~canary"

// canaryDoc is the plugin's config.
type canaryDoc struct {
	Traffic *float64 `json:"traffic"`
	Targets []Target `json:"targets"`
	Root    *string  `json:"root"`
}

// compileCanary compiles the first enabled CanaryMode step of r, or returns nil.
func (c *compiler) compileCanary(r *Route, steps []Step, index int) *canary {
	for _, st := range steps {
		if st.Name != "CanaryMode" {
			continue
		}
		field := fmt.Sprintf("plugins[%d].config", st.Index)
		var d canaryDoc
		if len(st.Config) > 0 && string(st.Config) != "null" {
			if err := json.Unmarshal(st.Config, &d); err != nil {
				c.fail(r.ID, field, "bad value: %v", err)
				return nil
			}
		}
		cn := &canary{traffic: 0.2, root: "/"}
		if d.Traffic != nil {
			cn.traffic = *d.Traffic
		}
		if math.IsNaN(cn.traffic) || cn.traffic < 0 || cn.traffic > 1 {
			c.fail(r.ID, field+".traffic", "must be within [0, 1], got %g", cn.traffic)
		}
		if d.Root != nil && *d.Root != "" {
			cn.root = *d.Root
		}
		if cn.root[0] != '/' {
			c.fail(r.ID, field+".root", "must be a path starting with '/', got %q", cn.root)
		}
		if len(d.Targets) == 0 {
			c.fail(r.ID, field+".targets", "a canary needs at least one target")
			return nil
		}
		cr := *r
		cr.ID = r.ID + canarySuffix
		cr.Backend.Targets = d.Targets
		cr.Backend.HealthCheck = nil
		for i := range cr.Backend.Targets {
			t := &cr.Backend.Targets[i]
			if t.Weight == 0 {
				t.Weight = 1
			}
		}
		cn.pool = c.compilePool(&cr, index)
		if cn.pool == nil {
			return nil
		}
		return cn
	}
	return nil
}

// CanaryTraffic is the share of clients CanaryMode sends to its targets
// (0 when the route has no canary).
func (c *Compiled) CanaryTraffic() float64 {
	if c.canary == nil {
		return 0
	}
	return c.canary.traffic
}

// PickCanary is Pick among the canary's targets.
func (c *Compiled) PickCanary(in *PickInput) (*Upstream, int) {
	if c.canary == nil {
		return c.Pick(in)
	}
	return pickFrom(c.canary.pool, in)
}

// RewriteCanaryPath is RewritePath with the canary's root.
func (c *Compiled) RewriteCanaryPath(dst, path []byte) []byte {
	if c.canary == nil {
		return c.RewritePath(dst, path)
	}
	return rewrite(dst, path, c.stripPath, c.Prefix, c.canary.root)
}
