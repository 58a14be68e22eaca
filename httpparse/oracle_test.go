package httpparse

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// refSection reads a header section (field lines, each ending in CRLF, then
// an empty line) the slow and literal way, straight from the grammar of
// RFC 9112 §5 and RFC 9110 §5.1, §5.5, §5.6.2. It is the oracle for the
// word-at-a-time scans and the fast path of parseSection.
func refSection(section []byte) (names, values []string, ok bool) {
	const tchars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	body, found := bytes.CutSuffix(section, []byte("\r\n\r\n"))
	if !found {
		return nil, nil, false
	}
	for _, line := range strings.Split(string(body), "\r\n") {
		name, value, found := strings.Cut(line, ":")
		if !found || name == "" {
			return nil, nil, false
		}
		for i := 0; i < len(name); i++ {
			if !strings.Contains(tchars, name[i:i+1]) {
				return nil, nil, false
			}
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; c != ' ' && c != '\t' && (c < 0x21 || c == 0x7f) {
				return nil, nil, false
			}
		}
		names, values = append(names, name), append(values, value)
	}
	return names, values, true
}

// semantic reports whether err comes from the meaning of a field rather
// than its syntax; the oracle knows only syntax.
func semantic(err error) bool {
	switch err {
	case ErrDuplicateHost, ErrBadContentLength, ErrConflictingContentLength,
		ErrBadTransferEncoding, ErrBadConnection, ErrTooManyHeaders:
		return true
	}
	return false
}

// checkOracle compares parseSection with refSection on input + CRLF CRLF.
func checkOracle(t *testing.T, input []byte) {
	t.Helper()
	section := append(slices.Clip(input), "\r\n\r\n"...)
	if len(input) == 0 || bytes.HasPrefix(input, []byte("\r\n")) || bytes.Index(section, []byte("\r\n\r\n")) != len(section)-4 {
		return // the section would end early: not a single-section input
	}
	names, values, ok := refSection(section)
	var arr [64]Header
	st := fieldState{request: true, cl: -1}
	hdrs, end, err := parseSection(section, 0, 1<<20, arr[:0], &st)
	switch {
	case err != nil && semantic(err):
		return
	case ok != (err == nil):
		t.Fatalf("%q: oracle ok=%v, parseSection err=%v", section, ok, err)
	case !ok:
		return
	}
	if end != len(section) || len(hdrs) != len(names) {
		t.Fatalf("%q: end %d, %d fields; oracle %d fields", section, end, len(hdrs), len(names))
	}
	for k, h := range hdrs {
		if string(h.Name.Bytes(section)) != names[k] || string(h.Value.Bytes(section)) != values[k] {
			t.Fatalf("%q: field %d is %q: %q, oracle %q: %q", section, k, h.Name.Bytes(section), h.Value.Bytes(section), names[k], values[k])
		}
	}
}

// TestFieldsOracle runs crafted and pseudo-random sections through the
// oracle. The random lines are drawn from bytes that sit on every edge of
// the grammar, at lengths that straddle the 8-byte words of the scans.
func TestFieldsOracle(t *testing.T) {
	for _, s := range []string{
		"A: b", "A:b", "A:", "A: \t", "A:\tb\t", "A: b c", "A: b\tc", "A : b", " A: b", "A: b\r\n c",
		"A: \x00", "A: \x7f", "A: \x80\xff", "A: b\rc", "A: b\nc", "A\x00: b", ": b", "A", "A: b\r\nB: c",
		"A: 0123456789abcdef0123456789", "A: 0123456\t89abcdef\t123456789", "A: 01234567\x0189abcdef",
	} {
		checkOracle(t, []byte(s))
	}
	edge := []byte("aZ09-_:;, \t\r\n\x00\x01\x1f\x7f\x80\xff\"(){}")
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20000; n++ {
		var b []byte
		if rng.IntN(2) == 0 {
			b = append(b, "X-Name"[:1+rng.IntN(6)]...)
			b = append(b, ':')
		}
		for k := rng.IntN(40); k > 0; k-- {
			if rng.IntN(4) == 0 {
				b = append(b, edge[rng.IntN(len(edge))])
			} else {
				b = append(b, byte('a'+rng.IntN(26)))
			}
		}
		checkOracle(t, b)
	}
}

// FuzzFields is TestFieldsOracle driven by the fuzzer.
func FuzzFields(f *testing.F) {
	for _, s := range []string{"A: b", "A: b\r\nB:\tc d \t", "Content-Length: 1", "X: \x80\x7f"} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkOracle)
}
