package httpparse

// Byte classes, one bit each in charClass. A single [256]uint8 table keeps
// every class in four cache lines.
const (
	// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
	//         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA     (RFC 9110 §5.6.2)
	// token = 1*tchar
	classTchar uint8 = 1 << iota

	// field-value   = *field-content                          (RFC 9110 §5.5)
	// field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
	// field-vchar   = VCHAR / obs-text
	// obs-text      = %x80-FF
	// The class is field-vchar plus SP and HTAB: every byte a value may hold.
	classValue

	// request-target bytes (RFC 9112 §3.2, RFC 3986 §3.3-3.4): this parser
	// accepts any VCHAR except "#" (a fragment is never sent, RFC 9110 §4.2.5),
	// because browsers send "{", "}", "|" and "^" raw; routing decides what a
	// path means. Controls, SP, DEL and obs-text are rejected.
	classTarget

	// Host and authority bytes (RFC 3986 §3.2.2-3.2.3):
	// uri-host = IP-literal / IPv4address / reg-name
	// reg-name = *( unreserved / pct-encoded / sub-delims )
	// unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
	// sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="
	// plus "%" for pct-encoded, ":" for the port and "[" "]" for IP-literal.
	// Notably excluded: whitespace, controls, "/", "?", "#", "@" and "\".
	classHost

	// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 §5.6.4)
	classQdtext

	// HEXDIG = DIGIT / "A"-"F" / "a"-"f" (RFC 5234 B.1)
	classHex

	// classTarget without "?": the bytes of an absolute-path or authority,
	// so that a scan stops at the query (RFC 3986 §3.3).
	classPath

	// reg-name bytes: classHost without ":", "[" and "]", which is also what
	// an IPv4address is made of (RFC 3986 §3.2.2).
	classRegName
)

var charClass = buildCharClass()

func buildCharClass() (t [256]uint8) {
	set := func(class uint8, chars string) {
		for i := 0; i < len(chars); i++ {
			t[chars[i]] |= class
		}
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const digit = "0123456789"
	set(classTchar, alpha+digit+"!#$%&'*+-.^_`|~")
	set(classHost, alpha+digit+"-._~"+"!$&'()*+,;="+"%:[]")
	set(classRegName, alpha+digit+"-._~"+"!$&'()*+,;="+"%")
	set(classHex, digit+"ABCDEFabcdef")
	for c := 0x21; c <= 0x7e; c++ {
		t[c] |= classValue | classTarget
		if c != '"' && c != '\\' {
			t[c] |= classQdtext
		}
	}
	for c := 0x21; c <= 0x7e; c++ {
		if c != '#' && c != '?' {
			t[c] |= classPath
		}
	}
	t['#'] &^= classTarget
	for c := 0x80; c <= 0xff; c++ {
		t[c] |= classValue | classQdtext
	}
	t[' '] |= classValue | classQdtext
	t['\t'] |= classValue | classQdtext
	return t
}

// skipClass returns the offset of the first byte at or after i that is not
// in class, or len(buf). It tests four bytes per step, which lets the CPU
// overlap the table loads.
func skipClass(buf []byte, i int, class uint8) int {
	for ; i+4 <= len(buf); i += 4 {
		w := buf[i : i+4 : i+4]
		if charClass[w[0]]&class == 0 {
			return i
		}
		if charClass[w[1]]&class == 0 {
			return i + 1
		}
		if charClass[w[2]]&class == 0 {
			return i + 2
		}
		if charClass[w[3]]&class == 0 {
			return i + 3
		}
	}
	for i < len(buf) && charClass[buf[i]]&class != 0 {
		i++
	}
	return i
}

func isTchar(c byte) bool { return charClass[c]&classTchar != 0 }

// isOWS reports whether c is SP or HTAB: OWS = *( SP / HTAB ) (RFC 9110 §5.6.3).
func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// toLower maps ASCII upper-case letters to lower case and leaves every other byte alone.
func toLower(c byte) byte {
	if c-'A' < 26 {
		return c + ('a' - 'A')
	}
	return c
}

// EqualFold reports whether b equals s under ASCII case folding. s must be
// lower-case. It does not allocate and is safe for concurrent use.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if toLower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// Lower writes the ASCII lower-case form of src into dst[:len(src)] and
// returns that slice; dst must be at least as long as src (it may be src).
// It does not allocate and is safe for concurrent use.
func Lower(dst, src []byte) []byte {
	dst = dst[:len(src)]
	for i, c := range src {
		dst[i] = toLower(c)
	}
	return dst
}

// equalFoldBytes reports whether a and b are equal under ASCII case folding.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if toLower(a[i]) != toLower(b[i]) {
			return false
		}
	}
	return true
}
