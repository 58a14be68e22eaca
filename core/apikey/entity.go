package apikey

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/torii-gateway/torii/core/quota"
)

// ApiKey is Otoroshi's ApiKey entity (camelCase JSON). Fields Torii does not
// model (authorizedGroup, restrictions, constrainedServicesOnly, ...) are kept
// verbatim in Extra and written back by MarshalJSON.
type ApiKey struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	ClientName   string `json:"clientName"`
	Description  string `json:"description"`
	// AuthorizedEntities holds "group_<id>", "route_<id>" or "service_<id>";
	// a string with none of these prefixes is a group id.
	AuthorizedEntities []string `json:"authorizedEntities"`
	Enabled            bool     `json:"enabled"`
	ReadOnly           bool     `json:"readOnly"`
	AllowClientIDOnly  bool     `json:"allowClientIdOnly"`
	// Quotas in calls per window; quota.Unlimited (10000000) means no limit.
	ThrottlingQuota int64 `json:"throttlingQuota"`
	DailyQuota      int64 `json:"dailyQuota"`
	MonthlyQuota    int64 `json:"monthlyQuota"`
	// ValidUntil is the expiry in Unix milliseconds; nil means never. On input
	// it may also be an RFC 3339 string.
	ValidUntil *int64            `json:"validUntil"`
	Rotation   Rotation          `json:"rotation"`
	Tags       []string          `json:"tags"`
	Metadata   map[string]string `json:"metadata"`
	Loc        Location          `json:"_loc"`

	// Extra holds the top-level fields this struct does not know, by name.
	Extra map[string]json.RawMessage `json:"-"`
}

// Rotation is Otoroshi's secret rotation block. While Enabled and NextSecret
// is set, both the current and the next secret are accepted.
type Rotation struct {
	Enabled       bool    `json:"enabled"`
	RotationEvery int64   `json:"rotationEvery"` // hours
	GracePeriod   int64   `json:"gracePeriod"`   // hours
	NextSecret    *string `json:"nextSecret"`
}

// Location is the tenant and teams an entity belongs to (`_loc`).
type Location struct {
	Tenant string   `json:"tenant"`
	Teams  []string `json:"teams"`
}

// knownFields are the JSON names decoded into ApiKey fields; every other
// top-level name goes to Extra.
var knownFields = []string{
	"clientId", "clientSecret", "clientName", "description", "authorizedEntities",
	"enabled", "readOnly", "allowClientIdOnly", "throttlingQuota", "dailyQuota",
	"monthlyQuota", "validUntil", "rotation", "tags", "metadata", "_loc",
}

// Defaults returns a key with Otoroshi's default values and no identity.
func Defaults() ApiKey {
	return ApiKey{
		AuthorizedEntities: []string{},
		Enabled:            true,
		ThrottlingQuota:    quota.Unlimited,
		DailyQuota:         quota.Unlimited,
		MonthlyQuota:       quota.Unlimited,
		Rotation:           Rotation{RotationEvery: 31 * 24, GracePeriod: 7 * 24},
		Tags:               []string{},
		Metadata:           map[string]string{},
		Loc:                Location{Tenant: "default", Teams: []string{"default"}},
	}
}

// apiKeyFields is ApiKey without its methods, for the default codec.
type apiKeyFields ApiKey

// UnmarshalJSON decodes an ApiKey, applying Otoroshi's defaults to absent
// fields and keeping unknown fields in Extra. Errors name the field.
func (k *ApiKey) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("cannot decode apikey: %w", err)
	}
	*k = Defaults()
	if v, ok := raw["validUntil"]; ok {
		delete(raw, "validUntil")
		vu, err := decodeValidUntil(v)
		if err != nil {
			return fmt.Errorf("cannot decode apikey field validUntil: %w", err)
		}
		k.ValidUntil = vu
	}
	for _, name := range knownFields {
		v, ok := raw[name]
		if !ok {
			continue
		}
		delete(raw, name)
		if string(v) == "null" {
			continue // keep the default
		}
		if err := json.Unmarshal(v, k.field(name)); err != nil {
			return fmt.Errorf("cannot decode apikey field %s: %w", name, err)
		}
	}
	if len(raw) > 0 {
		k.Extra = raw
	}
	return nil
}

// field returns a pointer to the struct field with JSON name name.
func (k *ApiKey) field(name string) any {
	switch name {
	case "clientId":
		return &k.ClientID
	case "clientSecret":
		return &k.ClientSecret
	case "clientName":
		return &k.ClientName
	case "description":
		return &k.Description
	case "authorizedEntities":
		return &k.AuthorizedEntities
	case "enabled":
		return &k.Enabled
	case "readOnly":
		return &k.ReadOnly
	case "allowClientIdOnly":
		return &k.AllowClientIDOnly
	case "throttlingQuota":
		return &k.ThrottlingQuota
	case "dailyQuota":
		return &k.DailyQuota
	case "monthlyQuota":
		return &k.MonthlyQuota
	case "rotation":
		return &k.Rotation
	case "tags":
		return &k.Tags
	case "metadata":
		return &k.Metadata
	case "_loc":
		return &k.Loc
	}
	panic("BUG: apikey field " + name + " has no struct field")
}

// decodeValidUntil accepts null, epoch milliseconds, or an RFC 3339 string.
func decodeValidUntil(v json.RawMessage) (*int64, error) {
	v = bytes.TrimSpace(v)
	switch {
	case string(v) == "null":
		return nil, nil
	case len(v) > 0 && v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		if s == "" {
			return nil, nil
		}
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			return &ms, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("want epoch milliseconds or RFC 3339: %w", err)
		}
		ms := t.UnixMilli()
		return &ms, nil
	default:
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return nil, err
		}
		ms := int64(f)
		return &ms, nil
	}
}

// MarshalJSON writes the known fields, then the Extra fields in name order.
func (k ApiKey) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(apiKeyFields(k))
	if err != nil {
		return nil, fmt.Errorf("cannot encode apikey %q: %w", k.ClientID, err)
	}
	if len(k.Extra) == 0 {
		return b, nil
	}
	names := make([]string, 0, len(k.Extra))
	for name := range k.Extra {
		if !slices.Contains(knownFields, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := b[:len(b)-1] // drop the closing brace
	for _, name := range names {
		nb, _ := json.Marshal(name)
		out = append(out, ',')
		out = append(out, nb...)
		out = append(out, ':')
		v := k.Extra[name]
		if len(bytes.TrimSpace(v)) == 0 {
			v = json.RawMessage("null")
		}
		out = append(out, v...)
	}
	return append(out, '}'), nil
}

// Limits returns the key's quotas.
func (k *ApiKey) Limits() quota.Limits {
	return quota.Limits{Throttle: k.ThrottlingQuota, Daily: k.DailyQuota, Monthly: k.MonthlyQuota}
}

// Validate checks the fields Otoroshi requires and the values Torii can
// enforce. The error names the field.
func (k *ApiKey) Validate() error {
	f := func(field string, err error) error {
		return fmt.Errorf("invalid apikey %q: field %s: %w", k.ClientID, field, err)
	}
	switch {
	case k.ClientID == "":
		return f("clientId", ErrRequired)
	case !printable(k.ClientID):
		return f("clientId", ErrBadChars)
	case k.ClientSecret == "":
		return f("clientSecret", ErrRequired)
	case !printable(k.ClientSecret):
		return f("clientSecret", ErrBadChars)
	case k.ClientName == "":
		return f("clientName", ErrRequired)
	case k.ThrottlingQuota < 0:
		return f("throttlingQuota", ErrNegative)
	case k.DailyQuota < 0:
		return f("dailyQuota", ErrNegative)
	case k.MonthlyQuota < 0:
		return f("monthlyQuota", ErrNegative)
	}
	for i, e := range k.AuthorizedEntities {
		if strings.TrimSpace(e) == "" {
			return f(fmt.Sprintf("authorizedEntities[%d]", i), ErrRequired)
		}
	}
	if k.Rotation.NextSecret != nil && !printable(*k.Rotation.NextSecret) {
		return f("rotation.nextSecret", ErrBadChars)
	}
	return nil
}

// printable reports whether s is visible ASCII without spaces: what can
// travel in a header field, a JWT claim and a Basic credential unchanged.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// DecodeKeys decodes a JSON array of keys, or an Otoroshi export object with
// an "apiKeys" array, and validates every key. Errors name the index, the
// client id and the field.
func DecodeKeys(data []byte) ([]ApiKey, error) {
	data = bytes.TrimSpace(data)
	var raws []json.RawMessage
	if len(data) > 0 && data[0] == '{' {
		var export struct {
			ApiKeys []json.RawMessage `json:"apiKeys"`
		}
		if err := json.Unmarshal(data, &export); err != nil {
			return nil, fmt.Errorf("cannot decode apikeys export: %w", err)
		}
		raws = export.ApiKeys
	} else if err := json.Unmarshal(data, &raws); err != nil {
		return nil, fmt.Errorf("cannot decode apikeys array: %w", err)
	}
	keys := make([]ApiKey, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &keys[i]); err != nil {
			return nil, fmt.Errorf("apikeys[%d]: %w", i, err)
		}
		if err := keys[i].Validate(); err != nil {
			return nil, fmt.Errorf("apikeys[%d]: %w", i, err)
		}
	}
	return keys, nil
}
