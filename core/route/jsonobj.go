package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// jsonNames returns the set of JSON member names that the struct type of v declares
// through its json tags. It is used once per entity type, at package init.
func jsonNames(v any) map[string]bool {
	t := reflect.TypeOf(v)
	names := make(map[string]bool, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		names[name] = true
	}
	return names
}

// decodeObject decodes the JSON object data into v, a pointer to a struct whose fields carry
// json tags and hold their defaults, and returns the members v does not declare, so that they
// can be written back unchanged. A JSON null leaves v at its defaults.
func decodeObject(data []byte, v any, known map[string]bool) (map[string]json.RawMessage, error) {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil, nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			// Name the member as it appears in the JSON, not our Go types.
			return nil, fmt.Errorf("%s: want %s, got a JSON %s", ute.Field, ute.Type, ute.Value)
		}
		return nil, err
	}
	var extra map[string]json.RawMessage
	for k, raw := range all {
		if known[k] {
			continue
		}
		if extra == nil {
			extra = make(map[string]json.RawMessage)
		}
		extra[k] = raw
	}
	return extra, nil
}

// encodeObject encodes v, a struct with json tags, then appends the members of extra in
// name order. Members of extra that v declares are skipped: the typed field wins.
func encodeObject(v any, extra map[string]json.RawMessage, known map[string]bool) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(extra) == 0 {
		return b, nil
	}
	if len(b) < 2 || b[len(b)-1] != '}' {
		panic("BUG: encodeObject given a value that is not encoded as a JSON object")
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if !known[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	b = b[:len(b)-1]
	for _, k := range keys {
		if len(b) > 1 {
			b = append(b, ',')
		}
		name, err := json.Marshal(k)
		if err != nil {
			return nil, fmt.Errorf("cannot encode member name %q: %w", k, err)
		}
		b = append(b, name...)
		b = append(b, ':')
		raw := extra[k]
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		b = append(b, raw...)
	}
	return append(b, '}'), nil
}
