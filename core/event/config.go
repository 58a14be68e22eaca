package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Exporter types Torii runs (and TypeKafka, kafka.go). Other Otoroshi types
// (elastic, pulsar...) are kept in configurations but not started.
const (
	TypeWebhook = "webhook"
	TypeFile    = "file"
	TypeConsole = "console"
)

// Otoroshi's defaults for a DataExporterConfig.
const (
	DefaultBufferSize    = 5000
	DefaultGroupSize     = 100
	DefaultGroupDuration = 30000 // ms
)

// Limits on exporter settings: a queue or batch larger than this would let
// one misconfigured exporter hold hundreds of MB of events.
const (
	MaxBufferSize = 1 << 20
	MaxGroupSize  = 10000
)

// ExporterConfig is a data exporter, with the JSON shape of Otoroshi's
// DataExporterConfig (/api/data-exporter-configs). Fields Torii does not
// know are kept in Extra and written back unchanged.
type ExporterConfig struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Desc          string          `json:"desc"`
	Type          string          `json:"type"`
	Enabled       bool            `json:"enabled"`
	BufferSize    int             `json:"bufferSize"`
	GroupSize     int             `json:"groupSize"`
	GroupDuration int64           `json:"groupDuration"` // ms
	Filtering     Filtering       `json:"filtering"`
	Config        json.RawMessage `json:"config"`

	Extra map[string]json.RawMessage `json:"-"`
}

// Filtering selects events by JSON sub-objects: an event is exported when
// Include is empty or one of its patterns matches, and none of Exclude's
// patterns match. See matchPattern for the pattern language.
type Filtering struct {
	Include []map[string]any `json:"include"`
	Exclude []map[string]any `json:"exclude"`
}

// WebhookConfig is the config of a webhook exporter. URL and Headers are
// Otoroshi's; Retries, BackoffMs and TimeoutMs are Torii's.
type WebhookConfig struct {
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Retries   int               `json:"retries"`   // after the first attempt; default 3
	BackoffMs int64             `json:"backoffMs"` // first retry delay, doubled each time; default 200
	TimeoutMs int64             `json:"timeoutMs"` // per attempt; default 10000
}

// FileConfig is the config of a file exporter (Otoroshi's FileSettings):
// NDJSON appended to Path, rotated to Path.1 … Path.N when it would pass MaxFileSize.
type FileConfig struct {
	Path            string `json:"path"`
	MaxFileSize     int64  `json:"maxFileSize"`     // bytes; default 10 MiB
	MaxNumberOfFile int    `json:"maxNumberOfFile"` // rotated files kept; default 3
}

var knownConfigFields = []string{"id", "name", "desc", "type", "enabled", "bufferSize", "groupSize", "groupDuration", "filtering", "config"}

// DefaultExporterConfig returns the template Otoroshi serves for a new exporter.
func DefaultExporterConfig() ExporterConfig {
	return ExporterConfig{
		Type: TypeConsole, Enabled: false,
		BufferSize: DefaultBufferSize, GroupSize: DefaultGroupSize, GroupDuration: DefaultGroupDuration,
		Filtering: Filtering{Include: []map[string]any{}, Exclude: []map[string]any{}},
		Config:    json.RawMessage("{}"),
	}
}

// UnmarshalJSON decodes an Otoroshi DataExporterConfig, applying Otoroshi's
// defaults for missing fields (enabled is false unless given) and keeping
// unknown fields in Extra.
func (c *ExporterConfig) UnmarshalJSON(data []byte) error {
	type plain ExporterConfig
	p := plain(DefaultExporterConfig())
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("cannot decode data exporter config: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return fmt.Errorf("cannot decode data exporter config: %w", err)
	}
	for _, k := range knownConfigFields {
		delete(all, k)
	}
	p.Extra = nil
	if len(all) > 0 {
		p.Extra = all
	}
	if len(p.Config) == 0 || bytes.Equal(p.Config, []byte("null")) {
		p.Config = json.RawMessage("{}")
	}
	*c = ExporterConfig(p)
	return nil
}

// MarshalJSON writes the known fields and Extra back as one object.
func (c ExporterConfig) MarshalJSON() ([]byte, error) {
	type plain ExporterConfig
	p := plain(c)
	if p.Filtering.Include == nil {
		p.Filtering.Include = []map[string]any{}
	}
	if p.Filtering.Exclude == nil {
		p.Filtering.Exclude = []map[string]any{}
	}
	if len(p.Config) == 0 {
		p.Config = json.RawMessage("{}")
	}
	known, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("cannot encode data exporter config %q: %w", c.ID, err)
	}
	if len(c.Extra) == 0 {
		return known, nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(known, &all); err != nil {
		return nil, fmt.Errorf("cannot encode data exporter config %q: %w", c.ID, err)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Extra)) {
		if _, ok := all[k]; !ok {
			all[k] = c.Extra[k]
		}
	}
	return json.Marshal(all)
}

// DecodeExporterConfigs decodes a JSON array of exporter configs, or a single one.
func DecodeExporterConfigs(data []byte) ([]ExporterConfig, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		var c ExporterConfig
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, err
		}
		return []ExporterConfig{c}, nil
	}
	var cs []ExporterConfig
	if err := json.Unmarshal(data, &cs); err != nil {
		return nil, fmt.Errorf("cannot decode data exporter configs: %w", err)
	}
	return cs, nil
}

// Validate checks c; errors wrap ErrBadConfig (or ErrUnsupportedExporter for
// a type Torii does not run) and name the exporter id and field.
func (c *ExporterConfig) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("exporter %q: %s: %s: %w", c.ID, field, fmt.Sprintf(format, args...), ErrBadConfig)
	}
	if c.ID == "" {
		return bad("id", "must not be empty")
	}
	if c.BufferSize < 1 || c.BufferSize > MaxBufferSize {
		return bad("bufferSize", "%d not in [1, %d]", c.BufferSize, MaxBufferSize)
	}
	if c.GroupSize < 1 || c.GroupSize > MaxGroupSize {
		return bad("groupSize", "%d not in [1, %d]", c.GroupSize, MaxGroupSize)
	}
	if c.GroupDuration < 1 {
		return bad("groupDuration", "%d must be positive (ms)", c.GroupDuration)
	}
	for i, p := range c.Filtering.Include {
		if err := compilePatternErr(p); err != nil {
			return bad(fmt.Sprintf("filtering.include[%d]", i), "%v", err)
		}
	}
	for i, p := range c.Filtering.Exclude {
		if err := compilePatternErr(p); err != nil {
			return bad(fmt.Sprintf("filtering.exclude[%d]", i), "%v", err)
		}
	}
	switch c.kind() {
	case TypeWebhook:
		w, err := c.webhook()
		if err != nil {
			return bad("config", "%v", err)
		}
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("config.url", "%q is not an http(s) URL", w.URL)
		}
		if w.Retries < 0 || w.Retries > 100 {
			return bad("config.retries", "%d not in [0, 100]", w.Retries)
		}
	case TypeFile:
		f, err := c.file()
		if err != nil {
			return bad("config", "%v", err)
		}
		if f.Path == "" {
			return bad("config.path", "must not be empty")
		}
		if f.MaxFileSize < 1 || f.MaxNumberOfFile < 0 {
			return bad("config.maxFileSize", "size %d and count %d must be positive", f.MaxFileSize, f.MaxNumberOfFile)
		}
	case TypeKafka:
		k, err := c.kafka()
		if err != nil {
			return bad("config", "%v", err)
		}
		if _, _, field, err := kafkaOptions(k); err != nil {
			return bad("config."+field, "%v", err)
		}
	case TypeConsole:
	default:
		return fmt.Errorf("exporter %q: type %q: %w", c.ID, c.Type, ErrUnsupportedExporter)
	}
	return nil
}

// kind is the exporter type, case-insensitive as in Otoroshi.
func (c *ExporterConfig) kind() string { return strings.ToLower(c.Type) }

func (c *ExporterConfig) webhook() (WebhookConfig, error) {
	w := WebhookConfig{Retries: 3, BackoffMs: 200, TimeoutMs: 10000}
	if err := json.Unmarshal(c.Config, &w); err != nil {
		return w, fmt.Errorf("cannot decode webhook config: %w", err)
	}
	if w.BackoffMs <= 0 {
		w.BackoffMs = 200
	}
	if w.TimeoutMs <= 0 {
		w.TimeoutMs = 10000
	}
	return w, nil
}

func (c *ExporterConfig) file() (FileConfig, error) {
	f := FileConfig{MaxFileSize: 10 << 20, MaxNumberOfFile: 3}
	if err := json.Unmarshal(c.Config, &f); err != nil {
		return f, fmt.Errorf("cannot decode file config: %w", err)
	}
	return f, nil
}

func (c *ExporterConfig) groupDuration() time.Duration {
	return time.Duration(c.GroupDuration) * time.Millisecond
}

// sameAs reports whether two configs describe the same running exporter.
func (c *ExporterConfig) sameAs(o *ExporterConfig) bool {
	a, err1 := json.Marshal(c)
	b, err2 := json.Marshal(o)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}
