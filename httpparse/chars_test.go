package httpparse

import (
	"strings"
	"testing"
)

// TestScanValue compares the word-at-a-time scanValue with a byte-by-byte
// reading of the field-value grammar (RFC 9110 §5.5) for every byte value at
// every position of a 24-byte value.
func TestScanValue(t *testing.T) {
	allowed := func(c byte) bool { return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f) }
	for c := 0; c < 256; c++ {
		if allowed(byte(c)) != (charClass[c]&classValue != 0) {
			t.Fatalf("class of %#x disagrees with the grammar", c)
		}
		for pos := 0; pos < 24; pos++ {
			buf := []byte(strings.Repeat("a\x80", 12))
			buf[pos] = byte(c)
			want := 24
			if !allowed(byte(c)) {
				want = pos
			}
			if got := scanValue(buf, 0); got != want {
				t.Fatalf("byte %#x at %d: scanValue = %d, want %d", c, pos, got, want)
			}
		}
	}
}

// TestCharClasses checks the tables against the RFC grammars quoted above them.
func TestCharClasses(t *testing.T) {
	isAlnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < 256; i++ {
		c := byte(i)
		f := func(name string, class uint8, want bool) {
			t.Helper()
			if (charClass[c]&class != 0) != want {
				t.Errorf("%s(%q) = %v", name, c, !want)
			}
		}
		f("tchar", classTchar, isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0)
		f("target", classTarget, c > 0x20 && c < 0x7f && c != '#')
		f("host", classHost, isAlnum(c) || strings.IndexByte("-._~!$&'()*+,;=%:[]", c) >= 0)
		f("qdtext", classQdtext, c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80)
		f("reg-name", classRegName, isAlnum(c) || strings.IndexByte("-._~!$&'()*+,;=%", c) >= 0)
		f("hex", classHex, c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
		f("path", classPath, c > 0x20 && c < 0x7f && c != '#' && c != '?')
	}
}
