package jsonx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxDepth bounds nesting in request bodies, so a body of 1 MB of '[' cannot exhaust the stack.
const MaxDepth = 64

// Decode parses one JSON value with numbers kept as json.Number. It refuses duplicate object
// keys (ambiguous: encoding/json silently keeps the last one), nesting deeper than MaxDepth and
// any data after the value. Objects become map[string]any and arrays []any.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, path string, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d levels at %q", MaxDepth, path)
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("empty or truncated JSON")
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return decodeFrom(dec, tok, path, depth)
}

// decodeFrom decodes the value that begins with tok, already read from dec.
func decodeFrom(dec *json.Decoder, tok json.Token, path string, depth int) (any, error) {
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '{':
		m := make(map[string]any)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("invalid JSON: %w", err)
			}
			k, _ := kt.(string)
			p := JoinPath(path, k)
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("duplicate field %q", p)
			}
			v, err := decodeValue(dec, p, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return m, nil
	case '[':
		a := make([]any, 0)
		for i := 0; dec.More(); i++ {
			v, err := decodeValue(dec, path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return a, nil
	}
	return nil, fmt.Errorf("invalid JSON: unexpected %v", d)
}

func JoinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// DecodeObject is Decode for a body that must be a JSON object.
func DecodeObject(data []byte) (map[string]any, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("expected a JSON object")
	}
	return m, nil
}

// DeepCopy copies a value made of maps, slices and scalars as produced by Decode.
func DeepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = DeepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = DeepCopy(e)
		}
		return a
	default:
		return v
	}
}

// copyDoc deep-copies a document.
func copyDoc(d map[string]any) map[string]any {
	return DeepCopy(d).(map[string]any)
}

// MergePatch applies an RFC 7396 JSON merge patch to target and returns the result. target is not
// modified.
func MergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return DeepCopy(patch)
	}
	tm, ok := target.(map[string]any)
	if ok {
		tm = copyDoc(tm)
	} else {
		tm = make(map[string]any, len(pm))
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = MergePatch(tm[k], v)
	}
	return tm
}

// Encode renders v with sorted object keys and no HTML escaping, without a trailing newline.
// The output for equal documents is byte-identical, which ETags rely on.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("cannot encode JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// ETag is the strong ETag of a canonical JSON encoding.
func ETag(raw []byte) string {
	sum := sha256.Sum256(raw)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// IfMatch reports whether an If-Match header value accepts the current ETag. exists is false when
// the target does not exist, in which case even "*" fails (RFC 9110 13.1.1). An empty header always
// matches.
func IfMatch(header, current string, exists bool) bool {
	header = strings.TrimSpace(header)
	if header == "" {
		return true
	}
	if !exists {
		return false
	}
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || tag == current {
			return true
		}
	}
	return false
}

// Scalar renders a top-level scalar for filter comparison; ok is false for objects and arrays.
func Scalar(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case bool:
		return strconv.FormatBool(t), true
	case nil:
		return "null", true
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64), true
	}
	return "", false
}
