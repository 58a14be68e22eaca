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
	decoded := false
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		// The common case: v is decoded (which validates data), then the object's members are
		// walked in place to find the undeclared ones, without decoding every member into a map
		// of copies first. At 100k stored routes this was a third of the routes' decoding time
		// at start. Member names with escapes take the general path below.
		if err := unmarshalNamed(data, v); err != nil {
			return nil, err
		}
		if extra, ok := undeclared(t, known); ok {
			return extra, nil
		}
		decoded = true
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	if !decoded {
		if err := unmarshalNamed(data, v); err != nil {
			return nil, err
		}
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

// unmarshalNamed decodes data into v, naming the JSON member in a type error.
func unmarshalNamed(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			// Name the member as it appears in the JSON, not our Go types.
			return fmt.Errorf("%s: want %s, got a JSON %s", ute.Field, ute.Type, ute.Value)
		}
		return err
	}
	return nil
}

// undeclared walks the members of obj, one valid JSON object starting at its '{', and returns
// copies of those whose names known does not hold (a repeated name: its last value, as
// encoding/json into a map). ok is false when a member name holds an escape: the caller then
// decodes names with encoding/json.
func undeclared(obj []byte, known map[string]bool) (extra map[string]json.RawMessage, ok bool) {
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] != '}' {
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		end := bytes.IndexByte(obj[i+1:], '"') + i + 1
		if end <= i || bytes.IndexByte(obj[i+1:end], '\\') >= 0 {
			return nil, false
		}
		name := obj[i+1 : end]
		i = skipSpace(obj, end+1)
		i = skipSpace(obj, i+1) // the ':'
		start := i
		i = skipValue(obj, i)
		if !known[string(name)] {
			if extra == nil {
				extra = make(map[string]json.RawMessage)
			}
			extra[string(name)] = bytes.Clone(obj[start:i])
		}
		i = skipSpace(obj, i)
	}
	return extra, true
}

// skipSpace returns the index of the first byte of b at or after i that is not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the index just past the valid JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // the end of a number or literal that runs up to its container's end
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i
			}
		}
	}
	return i
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
