package event

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
)

// A filtering pattern is a JSON object matched against an event object:
// every key of the pattern must be present in the event and its value must
// match:
//   - a scalar matches an equal scalar (numbers by value), or an array
//     holding an equal element ({"identity":{"tags":"prod"}});
//   - an object whose keys all start with '$' applies operators to the value:
//     $eq, $ne (any JSON), $gt, $gte, $lt, $lte (numbers), $in, $nin (array of
//     values), $regex (RE2, whole string), $wildcard ('*' any run of bytes,
//     whole string), $contains (substring, or array element), $exists (bool);
//   - any other object matches an event object recursively (a sub-object);
//   - an array matches an event array holding every one of its elements.
//
// Patterns are compiled once per configuration, off the hot path.

// matcher reports whether a decoded JSON value matches.
type matcher func(v any) bool

// lazyEvent is an event being filtered: its type is known without decoding
// it, and the whole document is decoded at most once, only if a pattern
// looks at another top-level key.
type lazyEvent struct {
	kind    string // the event's @type
	doc     []byte
	decoded map[string]any
	err     error
	tried   bool
}

// get returns the top-level value of key.
func (l *lazyEvent) get(key string) (any, bool) {
	if key == "@type" && l.kind != "" {
		return boxKind(l.kind), true
	}
	if !l.tried {
		l.tried = true
		l.decoded, l.err = decodeEvent(l.doc)
	}
	v, ok := l.decoded[key]
	return v, ok
}

// boxKind returns kind as an any; our own kinds are boxed without
// allocating (a constant's interface value is static), so filtering a
// GatewayEvent on its @type costs no allocation.
func boxKind(kind string) any {
	switch kind {
	case KindGateway:
		return KindGateway
	case KindAudit:
		return KindAudit
	case KindAlert:
		return KindAlert
	}
	return kind
}

// topMatcher matches a whole event.
type topMatcher func(l *lazyEvent) bool

// compiledFilter is an exporter's compiled Filtering.
type compiledFilter struct {
	include, exclude []topMatcher
}

func (f *compiledFilter) empty() bool { return len(f.include) == 0 && len(f.exclude) == 0 }

// accept reports whether an event passes the filter.
func (f *compiledFilter) accept(l *lazyEvent) bool {
	if len(f.include) > 0 {
		ok := false
		for _, m := range f.include {
			if m(l) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, m := range f.exclude {
		if m(l) {
			return false
		}
	}
	return true
}

func compileFiltering(fl *Filtering) (compiledFilter, error) {
	var cf compiledFilter
	for i, p := range fl.Include {
		m, err := compileTop(p)
		if err != nil {
			return cf, fmt.Errorf("filtering.include[%d]: %w", i, err)
		}
		cf.include = append(cf.include, m)
	}
	for i, p := range fl.Exclude {
		m, err := compileTop(p)
		if err != nil {
			return cf, fmt.Errorf("filtering.exclude[%d]: %w", i, err)
		}
		cf.exclude = append(cf.exclude, m)
	}
	return cf, nil
}

// compileTop compiles a pattern for a whole event; "@type" is checked first
// (it needs no decoding), so a pattern on another type rejects cheaply.
func compileTop(p map[string]any) (topMatcher, error) {
	type field struct {
		key string
		m   matcher
	}
	fields := make([]field, 0, len(p))
	for k, v := range p {
		m, err := compileValue(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		if k == "@type" {
			fields = append([]field{{k, m}}, fields...)
		} else {
			fields = append(fields, field{k, m})
		}
	}
	return func(l *lazyEvent) bool {
		for _, f := range fields {
			v, ok := l.get(f.key)
			if !ok || !f.m(v) {
				return false
			}
		}
		return true
	}, nil
}

func compilePatternErr(p map[string]any) error {
	_, err := compileObject(p)
	return err
}

// compileObject compiles a sub-object pattern.
func compileObject(p map[string]any) (matcher, error) {
	type field struct {
		key string
		m   matcher
	}
	fields := make([]field, 0, len(p))
	for k, v := range p {
		m, err := compileValue(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		fields = append(fields, field{k, m})
	}
	return func(v any) bool {
		obj, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for _, f := range fields {
			ev, ok := obj[f.key]
			if !ok || !f.m(ev) {
				return false
			}
		}
		return true
	}, nil
}

func compileValue(p any) (matcher, error) {
	switch p := p.(type) {
	case map[string]any:
		if len(p) > 0 && allOperators(p) {
			return compileOperators(p)
		}
		return compileObject(p)
	case []any:
		return func(v any) bool {
			arr, ok := v.([]any)
			if !ok {
				return false
			}
			for _, want := range p {
				if !containsEqual(arr, want) {
					return false
				}
			}
			return true
		}, nil
	default:
		return func(v any) bool {
			if arr, ok := v.([]any); ok {
				return containsEqual(arr, p)
			}
			return jsonEqual(v, p)
		}, nil
	}
}

func allOperators(p map[string]any) bool {
	for k := range p {
		if !strings.HasPrefix(k, "$") {
			return false
		}
	}
	return true
}

func compileOperators(p map[string]any) (matcher, error) {
	var ms []matcher
	for op, arg := range p {
		m, err := compileOperator(op, arg)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return func(v any) bool {
		for _, m := range ms {
			if !m(v) {
				return false
			}
		}
		return true
	}, nil
}

func compileOperator(op string, arg any) (matcher, error) {
	num := func(cmp func(a, b float64) bool) (matcher, error) {
		b, ok := arg.(float64)
		if !ok {
			return nil, fmt.Errorf("%s needs a number", op)
		}
		return func(v any) bool {
			a, ok := v.(float64)
			return ok && cmp(a, b)
		}, nil
	}
	str := func() (string, error) {
		s, ok := arg.(string)
		if !ok {
			return "", fmt.Errorf("%s needs a string", op)
		}
		return s, nil
	}
	switch op {
	case "$eq":
		return func(v any) bool { return jsonEqual(v, arg) }, nil
	case "$ne":
		return func(v any) bool { return !jsonEqual(v, arg) }, nil
	case "$gt":
		return num(func(a, b float64) bool { return a > b })
	case "$gte":
		return num(func(a, b float64) bool { return a >= b })
	case "$lt":
		return num(func(a, b float64) bool { return a < b })
	case "$lte":
		return num(func(a, b float64) bool { return a <= b })
	case "$in", "$nin":
		arr, ok := arg.([]any)
		if !ok {
			return nil, fmt.Errorf("%s needs an array", op)
		}
		in := op == "$in"
		return func(v any) bool { return containsEqual(arr, v) == in }, nil
	case "$regex":
		s, err := str()
		if err != nil {
			return nil, err
		}
		re, err := regexp.Compile(`^(?:` + s + `)$`)
		if err != nil {
			return nil, fmt.Errorf("$regex: %w", err)
		}
		return func(v any) bool {
			sv, ok := v.(string)
			return ok && re.MatchString(sv)
		}, nil
	case "$wildcard":
		s, err := str()
		if err != nil {
			return nil, err
		}
		return func(v any) bool {
			sv, ok := v.(string)
			return ok && wildcardMatch(s, sv)
		}, nil
	case "$contains":
		return func(v any) bool {
			switch v := v.(type) {
			case string:
				s, ok := arg.(string)
				return ok && strings.Contains(v, s)
			case []any:
				return containsEqual(v, arg)
			}
			return false
		}, nil
	case "$exists":
		want, ok := arg.(bool)
		if !ok {
			return nil, fmt.Errorf("$exists needs a boolean")
		}
		// The key lookup already failed for a missing key; $exists:false can
		// only match a present null.
		return func(v any) bool { return (v != nil) == want }, nil
	}
	return nil, fmt.Errorf("unknown operator %s", op)
}

func containsEqual(arr []any, want any) bool {
	for _, e := range arr {
		if jsonEqual(e, want) {
			return true
		}
	}
	return false
}

// jsonEqual compares decoded JSON values (numbers are float64).
func jsonEqual(a, b any) bool { return reflect.DeepEqual(a, b) }

// wildcardMatch reports whether s matches pattern, where '*' matches any run
// of bytes; linear time with one backtrack point.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
