package jsonx

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Patch applies an RFC 6902 JSON Patch (what Otoroshi's admin API takes on PATCH) to
// doc and returns the result; doc is not modified. ops is the decoded patch array.
func Patch(doc any, ops []any) (any, error) {
	doc = DeepCopy(doc)
	for i, raw := range ops {
		op, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("patch[%d]: must be an object", i)
		}
		name, _ := op["op"].(string)
		path, ok := op["path"].(string)
		if !ok {
			return nil, fmt.Errorf("patch[%d]: path is required", i)
		}
		value, hasValue := op["value"]
		var err error
		switch name {
		case "add", "replace", "test":
			if !hasValue {
				return nil, fmt.Errorf("patch[%d]: value is required", i)
			}
		case "remove":
		case "move", "copy":
			from, ok := op["from"].(string)
			if !ok {
				return nil, fmt.Errorf("patch[%d]: from is required", i)
			}
			value, err = pointerGet(doc, from)
			if err != nil {
				return nil, fmt.Errorf("patch[%d]: from: %w", i, err)
			}
			value = DeepCopy(value)
			if name == "move" {
				if strings.HasPrefix(path, from+"/") {
					return nil, fmt.Errorf("patch[%d]: cannot move a value into itself", i)
				}
				if doc, err = pointerEdit(doc, from, "remove", nil); err != nil {
					return nil, fmt.Errorf("patch[%d]: %w", i, err)
				}
			}
			name = "add"
		default:
			return nil, fmt.Errorf("patch[%d]: unknown op %q", i, name)
		}
		if name == "test" {
			cur, err := pointerGet(doc, path)
			if err != nil {
				return nil, fmt.Errorf("patch[%d]: %w", i, err)
			}
			if !jsonEqual(cur, value) {
				return nil, fmt.Errorf("patch[%d]: test failed at %q", i, path)
			}
			continue
		}
		if doc, err = pointerEdit(doc, path, name, DeepCopy(value)); err != nil {
			return nil, fmt.Errorf("patch[%d]: %w", i, err)
		}
	}
	return doc, nil
}

var errNoPath = errors.New("path does not exist")

// splitPointer parses an RFC 6901 JSON pointer into unescaped tokens.
func splitPointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("JSON pointer %q must start with '/'", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		// RFC 6901 §3: "~" only ever starts "~0" or "~1".
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, fmt.Errorf("JSON pointer %q has a '~' not followed by 0 or 1", p)
			}
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

func arrayIndex(tok string, n int, allowEnd bool) (int, error) {
	if allowEnd && tok == "-" {
		return n, nil
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("bad array index %q", tok)
	}
	i, err := strconv.Atoi(tok)
	limit := n - 1
	if allowEnd {
		limit = n
	}
	if err != nil || i < 0 || i > limit {
		return 0, fmt.Errorf("array index %q out of range", tok)
	}
	return i, nil
}

func pointerGet(doc any, p string) (any, error) {
	toks, err := splitPointer(p)
	if err != nil {
		return nil, err
	}
	cur := doc
	for _, t := range toks {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, fmt.Errorf("%w: %q", errNoPath, p)
			}
			cur = v
		case []any:
			i, err := arrayIndex(t, len(c), false)
			if err != nil {
				return nil, err
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%w: %q", errNoPath, p)
		}
	}
	return cur, nil
}

// pointerEdit adds, replaces or removes the value at p and returns the new root.
func pointerEdit(doc any, p, op string, value any) (any, error) {
	toks, err := splitPointer(p)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		if op == "remove" {
			return nil, errors.New("cannot remove the whole document")
		}
		return value, nil
	}
	parentPath := ""
	for _, t := range toks[:len(toks)-1] {
		parentPath += "/" + strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
	}
	parent, err := pointerGet(doc, parentPath)
	if err != nil {
		return nil, err
	}
	last := toks[len(toks)-1]
	switch c := parent.(type) {
	case map[string]any:
		if _, ok := c[last]; !ok && op != "add" {
			return nil, fmt.Errorf("%w: %q", errNoPath, p)
		}
		if op == "remove" {
			delete(c, last)
		} else {
			c[last] = value
		}
		return doc, nil
	case []any:
		i, err := arrayIndex(last, len(c), op == "add")
		if err != nil {
			return nil, err
		}
		var next []any
		switch op {
		case "add":
			next = append(append(append(make([]any, 0, len(c)+1), c[:i]...), value), c[i:]...)
		case "remove":
			next = append(append(make([]any, 0, len(c)-1), c[:i]...), c[i+1:]...)
		default:
			c[i] = value
			return doc, nil
		}
		// A slice that changes length must be stored back into its parent.
		return pointerEdit(doc, parentPath, "replace", next)
	}
	return nil, fmt.Errorf("%w: %q", errNoPath, p)
}

// jsonEqual compares two decoded JSON values; numbers compare by their text.
func jsonEqual(a, b any) bool {
	return reflect.DeepEqual(a, b)
}
