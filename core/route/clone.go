package route

import (
	"encoding/json"
	"maps"
	"slices"
)

// Clone returns a deep copy of r: no slice, map or raw JSON of the copy is shared with r.
// Compile clones its input, so that a Table stays immutable whatever the caller does with
// its routes afterwards.
func (r Route) Clone() Route {
	c := r
	c.Tags = slices.Clone(r.Tags)
	c.Metadata = maps.Clone(r.Metadata)
	c.Groups = slices.Clone(r.Groups)
	c.Extra = cloneExtra(r.Extra)

	f := &c.Frontend
	f.Domains = slices.Clone(f.Domains)
	f.Headers = maps.Clone(f.Headers)
	f.Query = maps.Clone(f.Query)
	f.Methods = slices.Clone(f.Methods)
	f.Extra = cloneExtra(f.Extra)

	b := &c.Backend
	b.Targets = slices.Clone(b.Targets)
	for i := range b.Targets {
		b.Targets[i].Extra = cloneExtra(b.Targets[i].Extra)
	}
	b.LoadBalancing.Extra = cloneExtra(b.LoadBalancing.Extra)
	b.Client.Extra = cloneExtra(b.Client.Extra)
	if b.HealthCheck != nil {
		hc := *b.HealthCheck
		hc.HealthyStatuses = slices.Clone(hc.HealthyStatuses)
		hc.UnhealthyStatuses = slices.Clone(hc.UnhealthyStatuses)
		hc.Extra = cloneExtra(hc.Extra)
		b.HealthCheck = &hc
	}
	b.Extra = cloneExtra(b.Extra)

	c.Plugins = slices.Clone(r.Plugins)
	for i := range c.Plugins {
		p := &c.Plugins[i]
		p.Include = slices.Clone(p.Include)
		p.Exclude = slices.Clone(p.Exclude)
		p.Config = slices.Clone(p.Config)
		p.Extra = cloneExtra(p.Extra)
	}
	return c
}

func cloneExtra(m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}
