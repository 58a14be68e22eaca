package auth

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// LDAP search filters (RFC 4515 string form) encoded as RFC 4511 Filter
// CHOICEs: and (&), or (|), not (!), equality (=), substrings (= with *),
// present (=*), greaterOrEqual (>=), lessOrEqual (<=), approxMatch (~=).
// Extensible matches (:=) are refused.

// Filter CHOICE tags.
const (
	filterAnd       = classContext | constructed // tag 0
	filterOr        = classContext | constructed | 1
	filterNot       = classContext | constructed | 2
	filterEquality  = classContext | constructed | 3
	filterSubstring = classContext | constructed | 4
	filterGreater   = classContext | constructed | 5
	filterLess      = classContext | constructed | 6
	filterPresent   = classContext | 7
	filterApprox    = classContext | constructed | 8
)

// maxFilterDepth bounds nesting, so that a crafted filter cannot exhaust the
// stack.
const maxFilterDepth = 32

var errFilter = errors.New("not a valid LDAP filter")

// parseFilter encodes an RFC 4515 filter.
func parseFilter(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "(") {
		s = "(" + s + ")"
	}
	enc, rest, err := parseFilterAt(s, 0)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("%w: %q after the filter", errFilter, rest)
	}
	return enc, nil
}

func parseFilterAt(s string, depth int) ([]byte, string, error) {
	if depth > maxFilterDepth {
		return nil, "", fmt.Errorf("%w: nested more than %d levels", errFilter, maxFilterDepth)
	}
	if len(s) < 3 || s[0] != '(' {
		return nil, "", fmt.Errorf("%w: expected ( at %q", errFilter, s)
	}
	s = s[1:]
	switch s[0] {
	case '&', '|':
		tag := byte(filterAnd)
		if s[0] == '|' {
			tag = filterOr
		}
		s = s[1:]
		var items []byte
		for len(s) > 0 && s[0] == '(' {
			enc, rest, err := parseFilterAt(s, depth+1)
			if err != nil {
				return nil, "", err
			}
			items = append(items, enc...)
			s = rest
		}
		if !strings.HasPrefix(s, ")") {
			return nil, "", fmt.Errorf("%w: missing )", errFilter)
		}
		return berAppend(nil, tag, items), s[1:], nil
	case '!':
		enc, rest, err := parseFilterAt(s[1:], depth+1)
		if err != nil {
			return nil, "", err
		}
		if !strings.HasPrefix(rest, ")") {
			return nil, "", fmt.Errorf("%w: missing )", errFilter)
		}
		return berAppend(nil, filterNot, enc), rest[1:], nil
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return nil, "", fmt.Errorf("%w: missing )", errFilter)
	}
	item, rest := s[:end], s[end+1:]
	enc, err := parseItem(item)
	return enc, rest, err
}

// parseItem encodes attr=value, attr>=value, attr<=value, attr~=value,
// attr=* and substring forms.
func parseItem(item string) ([]byte, error) {
	eq := strings.IndexByte(item, '=')
	if eq <= 0 {
		return nil, fmt.Errorf("%w: %q has no attribute=value", errFilter, item)
	}
	attr, value := item[:eq], item[eq+1:]
	tag := byte(filterEquality)
	switch attr[len(attr)-1] {
	case '>':
		tag, attr = filterGreater, attr[:len(attr)-1]
	case '<':
		tag, attr = filterLess, attr[:len(attr)-1]
	case '~':
		tag, attr = filterApprox, attr[:len(attr)-1]
	case ':':
		return nil, fmt.Errorf("%w: extensible match %q is not supported", errFilter, item)
	}
	if attr == "" || strings.ContainsAny(attr, "()*\\ ") {
		return nil, fmt.Errorf("%w: bad attribute %q", errFilter, attr)
	}
	if tag == filterEquality && value == "*" {
		return berString(nil, filterPresent, attr), nil
	}
	if tag == filterEquality && strings.Contains(value, "*") {
		parts := strings.Split(value, "*")
		var subs []byte
		for i, p := range parts {
			if p == "" {
				continue
			}
			v, err := unescapeFilterValue(p)
			if err != nil {
				return nil, err
			}
			t := byte(classContext | 1) // any
			switch i {
			case 0:
				t = classContext // initial: tag 0
			case len(parts) - 1:
				t = classContext | 2 // final
			}
			subs = berAppend(subs, t, v)
		}
		body := berString(nil, tagOctetString, attr)
		body = berAppend(body, tagSequence, subs)
		return berAppend(nil, filterSubstring, body), nil
	}
	v, err := unescapeFilterValue(value)
	if err != nil {
		return nil, err
	}
	body := berString(nil, tagOctetString, attr)
	body = berAppend(body, tagOctetString, v)
	return berAppend(nil, tag, body), nil
}

// unescapeFilterValue decodes RFC 4515 \XX escapes.
func unescapeFilterValue(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '(' || c == ')' {
			return nil, fmt.Errorf("%w: unescaped %q in a value", errFilter, c)
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(s) {
			return nil, fmt.Errorf("%w: truncated escape in %q", errFilter, s)
		}
		b, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return nil, fmt.Errorf("%w: bad escape in %q", errFilter, s)
		}
		out = append(out, b[0])
		i += 2
	}
	return out, nil
}

// escapeFilterValue escapes a user-supplied value for a filter (RFC 4515
// §3): a login name can never change the filter's structure.
func escapeFilterValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '*', '(', ')', '\\', 0:
			fmt.Fprintf(&b, "\\%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
