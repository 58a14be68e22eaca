package route

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Route is Otoroshi's modern route entity (`/api/routes`), snake_case as Otoroshi writes it.
// Members that Torii does not model (`_loc`, `debug_flow`, `backend_ref` ...) are kept in Extra
// and written back unchanged by MarshalJSON.
type Route struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Tags        []string          `json:"tags"`
	Metadata    map[string]string `json:"metadata"`
	Enabled     bool              `json:"enabled"`
	Groups      []string          `json:"groups"`
	Frontend    Frontend          `json:"frontend"`
	Backend     Backend           `json:"backend"`
	Plugins     Plugins           `json:"plugins"`

	Extra map[string]json.RawMessage `json:"-"`
}

// Frontend says which requests a route takes.
type Frontend struct {
	// Domains are "host" or "host/path-prefix"; a host may start with "*." (any subdomain).
	Domains   []string          `json:"domains"`
	StripPath bool              `json:"strip_path"`
	Exact     bool              `json:"exact"`
	Headers   map[string]string `json:"headers"`
	Query     map[string]string `json:"query"`
	Methods   []string          `json:"methods"`

	Extra map[string]json.RawMessage `json:"-"`
}

// Backend says where a route sends requests.
type Backend struct {
	Targets       []Target      `json:"targets"`
	Root          string        `json:"root"`
	Rewrite       bool          `json:"rewrite"`
	LoadBalancing LoadBalancing `json:"load_balancing"`
	Client        ClientConfig  `json:"client"`
	HealthCheck   *HealthCheck  `json:"health_check"`

	Extra map[string]json.RawMessage `json:"-"`
}

// Target is one backend server of a route.
type Target struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	Port     int    `json:"port"`
	TLS      bool   `json:"tls"`
	Weight   int    `json:"weight"`
	Protocol string `json:"protocol"`
	Backup   bool   `json:"backup,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// LoadBalancing is `backend.load_balancing`: a type name and the options some types take.
type LoadBalancing struct {
	Type       string  `json:"type"`
	HeaderName string  `json:"header_name,omitempty"` // HeaderHash
	CookieName string  `json:"cookie_name,omitempty"` // CookieHash
	QueryName  string  `json:"query_name,omitempty"`  // QueryHash
	Ratio      float64 `json:"ratio,omitempty"`       // WeightedBestResponseTime; 0 means 0.5

	Extra map[string]json.RawMessage `json:"-"`
}

// ClientConfig is `backend.client`. Durations are milliseconds, as in Otoroshi.
type ClientConfig struct {
	Retries              int   `json:"retries"`
	MaxErrors            int   `json:"max_errors"`
	RetryInitialDelay    int64 `json:"retry_initial_delay"`
	BackoffFactor        int64 `json:"backoff_factor"`
	CallTimeout          int64 `json:"call_timeout"`
	CallAndStreamTimeout int64 `json:"call_and_stream_timeout"`
	ConnectionTimeout    int64 `json:"connection_timeout"`
	IdleTimeout          int64 `json:"idle_timeout"`
	GlobalTimeout        int64 `json:"global_timeout"`
	SampleInterval       int64 `json:"sample_interval"`

	Extra map[string]json.RawMessage `json:"-"`
}

// HealthCheck is `backend.health_check` (camelCase members, as Otoroshi writes them).
type HealthCheck struct {
	Enabled           bool   `json:"enabled"`
	URL               string `json:"url"`
	Timeout           int64  `json:"timeout"` // ms
	HealthyStatuses   []int  `json:"healthyStatuses"`
	UnhealthyStatuses []int  `json:"unhealthyStatuses"`

	Extra map[string]json.RawMessage `json:"-"`
}

// Plugin is one entry of a route's `plugins` array.
type Plugin struct {
	Enabled bool            `json:"enabled"`
	Plugin  string          `json:"plugin"` // e.g. "cp:otoroshi.next.plugins.ApikeyCalls"
	Include []string        `json:"include"`
	Exclude []string        `json:"exclude"`
	Config  json.RawMessage `json:"config"`

	Extra map[string]json.RawMessage `json:"-"`
}

// Plugins is the bare JSON array of a route's plugins, in declaration order.
type Plugins []Plugin

// DefaultClientConfig returns Otoroshi's defaults for `backend.client`.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		Retries:              1,
		MaxErrors:            20,
		RetryInitialDelay:    50,
		BackoffFactor:        2,
		CallTimeout:          30000,
		CallAndStreamTimeout: 120000,
		ConnectionTimeout:    10000,
		IdleTimeout:          60000,
		GlobalTimeout:        30000,
		SampleInterval:       2000,
	}
}

// The alias types have the same fields and tags but none of the methods, so that
// encoding/json can handle the known members without recursing into our methods.
type (
	routeJSON         Route
	frontendJSON      Frontend
	backendJSON       Backend
	targetJSON        Target
	loadBalancingJSON LoadBalancing
	clientConfigJSON  ClientConfig
	healthCheckJSON   HealthCheck
	pluginJSON        Plugin
)

var (
	routeNames         = jsonNames(routeJSON{})
	frontendNames      = jsonNames(frontendJSON{})
	backendNames       = jsonNames(backendJSON{})
	targetNames        = jsonNames(targetJSON{})
	loadBalancingNames = jsonNames(loadBalancingJSON{})
	clientConfigNames  = jsonNames(clientConfigJSON{})
	healthCheckNames   = jsonNames(healthCheckJSON{})
	pluginNames        = jsonNames(pluginJSON{})
)

// portUnset marks a target whose JSON has no port; it becomes 80, or 443 with tls.
const portUnset = -1 << 31

// UnmarshalJSON decodes a route, applying Otoroshi's defaults to absent members.
func (r *Route) UnmarshalJSON(data []byte) error {
	a := routeJSON{Enabled: true, Groups: []string{"default"}}
	a.Frontend = Frontend{StripPath: true}
	a.Backend = defaultBackend()
	extra, err := decodeObject(data, &a, routeNames)
	if err != nil {
		return err
	}
	a.Extra = extra
	*r = Route(a)
	return nil
}

// MarshalJSON encodes a route with its unknown members; absent lists and maps are written
// as [] and {} as Otoroshi does.
func (r Route) MarshalJSON() ([]byte, error) {
	a := routeJSON(r)
	a.Tags = emptyIfNil(a.Tags)
	a.Groups = emptyIfNil(a.Groups)
	a.Plugins = emptyIfNil(a.Plugins)
	if a.Metadata == nil {
		a.Metadata = map[string]string{}
	}
	return encodeObject(a, r.Extra, routeNames)
}

// UnmarshalJSON decodes a frontend; strip_path defaults to true.
func (f *Frontend) UnmarshalJSON(data []byte) error {
	a := frontendJSON{StripPath: true}
	extra, err := decodeObject(data, &a, frontendNames)
	if err != nil {
		return fmt.Errorf("frontend: %w", err)
	}
	a.Extra = extra
	*f = Frontend(a)
	return nil
}

// MarshalJSON encodes a frontend with its unknown members.
func (f Frontend) MarshalJSON() ([]byte, error) {
	a := frontendJSON(f)
	a.Domains = emptyIfNil(a.Domains)
	a.Methods = emptyIfNil(a.Methods)
	if a.Headers == nil {
		a.Headers = map[string]string{}
	}
	if a.Query == nil {
		a.Query = map[string]string{}
	}
	return encodeObject(a, f.Extra, frontendNames)
}

func defaultBackend() Backend {
	return Backend{
		Root:          "/",
		LoadBalancing: LoadBalancing{Type: "RoundRobin"},
		Client:        DefaultClientConfig(),
	}
}

// UnmarshalJSON decodes a backend; root defaults to "/" and load balancing to RoundRobin.
func (b *Backend) UnmarshalJSON(data []byte) error {
	a := backendJSON(defaultBackend())
	extra, err := decodeObject(data, &a, backendNames)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	a.Extra = extra
	*b = Backend(a)
	return nil
}

// MarshalJSON encodes a backend with its unknown members.
func (b Backend) MarshalJSON() ([]byte, error) {
	a := backendJSON(b)
	a.Targets = emptyIfNil(a.Targets)
	return encodeObject(a, b.Extra, backendNames)
}

// UnmarshalJSON decodes a target; weight defaults to 1, protocol to HTTP/1.1 and port to
// 80 (443 with tls).
func (t *Target) UnmarshalJSON(data []byte) error {
	a := targetJSON{Weight: 1, Protocol: "HTTP/1.1", Port: portUnset}
	extra, err := decodeObject(data, &a, targetNames)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if a.Port == portUnset {
		a.Port = 80
		if a.TLS {
			a.Port = 443
		}
	}
	a.Extra = extra
	*t = Target(a)
	return nil
}

// MarshalJSON encodes a target with its unknown members.
func (t Target) MarshalJSON() ([]byte, error) {
	return encodeObject(targetJSON(t), t.Extra, targetNames)
}

// UnmarshalJSON decodes `load_balancing`; the type defaults to RoundRobin.
func (l *LoadBalancing) UnmarshalJSON(data []byte) error {
	a := loadBalancingJSON{Type: "RoundRobin"}
	extra, err := decodeObject(data, &a, loadBalancingNames)
	if err != nil {
		return fmt.Errorf("load_balancing: %w", err)
	}
	a.Extra = extra
	*l = LoadBalancing(a)
	return nil
}

// MarshalJSON encodes `load_balancing` with its unknown members.
func (l LoadBalancing) MarshalJSON() ([]byte, error) {
	return encodeObject(loadBalancingJSON(l), l.Extra, loadBalancingNames)
}

// UnmarshalJSON decodes `client`, with Otoroshi's defaults for absent members.
func (c *ClientConfig) UnmarshalJSON(data []byte) error {
	a := clientConfigJSON(DefaultClientConfig())
	extra, err := decodeObject(data, &a, clientConfigNames)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	a.Extra = extra
	*c = ClientConfig(a)
	return nil
}

// MarshalJSON encodes `client` with its unknown members.
func (c ClientConfig) MarshalJSON() ([]byte, error) {
	return encodeObject(clientConfigJSON(c), c.Extra, clientConfigNames)
}

// UnmarshalJSON decodes `health_check`; the timeout defaults to 5000 ms.
func (h *HealthCheck) UnmarshalJSON(data []byte) error {
	a := healthCheckJSON{Timeout: 5000}
	extra, err := decodeObject(data, &a, healthCheckNames)
	if err != nil {
		return fmt.Errorf("health_check: %w", err)
	}
	a.Extra = extra
	*h = HealthCheck(a)
	return nil
}

// MarshalJSON encodes `health_check` with its unknown members.
func (h HealthCheck) MarshalJSON() ([]byte, error) {
	a := healthCheckJSON(h)
	a.HealthyStatuses = emptyIfNil(a.HealthyStatuses)
	a.UnhealthyStatuses = emptyIfNil(a.UnhealthyStatuses)
	return encodeObject(a, h.Extra, healthCheckNames)
}

// UnmarshalJSON decodes one plugin entry; enabled defaults to true.
func (p *Plugin) UnmarshalJSON(data []byte) error {
	a := pluginJSON{Enabled: true}
	extra, err := decodeObject(data, &a, pluginNames)
	if err != nil {
		return fmt.Errorf("plugin: %w", err)
	}
	a.Extra = extra
	*p = Plugin(a)
	return nil
}

// MarshalJSON encodes one plugin entry with its unknown members.
func (p Plugin) MarshalJSON() ([]byte, error) {
	a := pluginJSON(p)
	a.Include = emptyIfNil(a.Include)
	a.Exclude = emptyIfNil(a.Exclude)
	if len(a.Config) == 0 {
		a.Config = json.RawMessage("{}")
	}
	return encodeObject(a, p.Extra, pluginNames)
}

func emptyIfNil[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

// DecodeRoutes decodes a JSON array of routes, or an object with a "routes" array (such as a
// whole Otoroshi export, whose other members are ignored). Errors name the route by index and
// id, and the member that failed.
func DecodeRoutes(data []byte) ([]Route, error) {
	data = bytes.TrimSpace(data)
	var raws []json.RawMessage
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDecode, err)
		}
	case len(data) > 0 && data[0] == '{':
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDecode, err)
		}
		list, ok := doc["routes"]
		if !ok {
			return nil, fmt.Errorf("%w: the object has no \"routes\" member", ErrDecode)
		}
		if err := json.Unmarshal(list, &raws); err != nil {
			return nil, fmt.Errorf("%w: routes: %w", ErrDecode, err)
		}
	default:
		return nil, fmt.Errorf("%w: want a JSON array of routes or an object with \"routes\"", ErrDecode)
	}
	routes := make([]Route, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &routes[i]); err != nil {
			var id struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(raw, &id) // best effort, only to name the route
			return nil, fmt.Errorf("%w: routes[%d] (id %q): %w", ErrDecode, i, id.ID, err)
		}
	}
	return routes, nil
}
