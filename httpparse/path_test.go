package httpparse

import (
	"bytes"
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got, err := NormalizePath(nil, []byte(in))
		if err != nil {
			t.Errorf("NormalizePath(%q): %v, want %q", in, err, want)
			return
		}
		if string(got) != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("/", "/")
	f("/admin", "/admin")
	f("/admin/", "/admin/")
	f("/.well-known/x", "/.well-known/x")
	f("/a/..b/c.", "/a/..b/c.")
	f("/%61dmin", "/admin")
	f("/%41%7a%30%2D%2e%5F%7E", "/Az0-._~")
	f("//admin", "/admin")
	f("///a//b///", "/a/b/")
	f("/./admin", "/admin")
	f("/x/../admin", "/admin")
	f("/x/%2e%2E/admin", "/admin")
	f("/x/.%2e/admin", "/admin")
	f("/a/b/..", "/a/")
	f("/a/b/.", "/a/b/")
	f("/a/..", "/")
	f("/.", "/")
	f("//", "/")
	f("/a//../b", "/b")
	f("/a/./../b/./c/..", "/b/")
	f("/a%2fb", "/a%2Fb")
	f("/a%2F..%2Fb", "/a%2F..%2Fb")
	f("/%2e%2e%2fadmin", "/..%2Fadmin")
	f("/caf%c3%a9", "/caf%C3%A9")
	f("/a%20b", "/a%20b")
	f("/a%3fb", "/a%3Fb")
	f("/a;p=1/b", "/a;p=1/b")
	f("/...", "/...")
}

func TestNormalizePathRejects(t *testing.T) {
	f := func(in string, want error) {
		t.Helper()
		if got, err := NormalizePath(nil, []byte(in)); err != want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %v", in, got, err, want)
		}
		if StatusOf(want) != 400 {
			t.Errorf("%v: status %d, want 400", want, StatusOf(want))
		}
	}
	f("/..", ErrPathAboveRoot)
	f("/../admin", ErrPathAboveRoot)
	f("/a/../../admin", ErrPathAboveRoot)
	f("/%2e%2e/admin", ErrPathAboveRoot)
	f("/a%", ErrBadPercentEncoding)
	f("/a%4", ErrBadPercentEncoding)
	f("/a%4/", ErrBadPercentEncoding)
	f("/a%zz", ErrBadPercentEncoding)
	f("/a%00", ErrEncodedControl)
	f("/a%0d%0aX-Injected:%201", ErrEncodedControl)
	f("/a%1F", ErrEncodedControl)
	f("/a%7f", ErrEncodedControl)
	f("/a\\..\\admin", ErrBackslashInPath)
	f("/public/..;/admin", ErrDotSegmentParams)
	f("/public/.;x/admin", ErrDotSegmentParams)
	f("/public/%2e%2e;/admin", ErrDotSegmentParams)
	f("a/b", ErrBadTarget)
}

// TestNormalizePathInPlace checks that normalising into path[:0] gives the
// same result as into a separate buffer.
func TestNormalizePathInPlace(t *testing.T) {
	for _, in := range []string{"/%61dmin", "//a//b/../c", "/a/%2e/b%2fc%7e", "/x/y/z/../../..//q/."} {
		want, err := NormalizePath(nil, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		buf := []byte(in)
		got, err := NormalizePath(buf[:0], buf)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("in place %q: %q, %v; want %q", in, got, err, want)
		}
	}
}

// referenceNormalize is a plain reading of the rules in path.go, written
// independently of NormalizePath (whole-string decoding, then a segment
// stack) to check it differentially.
func referenceNormalize(path string) (string, bool) {
	if path == "" {
		return "", true
	}
	if path[0] != '/' || strings.Contains(path, "\\") {
		return "", false
	}
	var dec strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] != '%' {
			dec.WriteByte(path[i])
			continue
		}
		if i+2 >= len(path) || !strings.ContainsRune("0123456789abcdefABCDEF", rune(path[i+1])) ||
			!strings.ContainsRune("0123456789abcdefABCDEF", rune(path[i+2])) {
			return "", false
		}
		hex := strings.ToUpper(path[i+1 : i+3])
		v := strings.Index("0123456789ABCDEF", hex[:1])*16 + strings.Index("0123456789ABCDEF", hex[1:])
		switch {
		case v < 0x20 || v == 0x7f:
			return "", false
		case 'a' <= v && v <= 'z' || 'A' <= v && v <= 'Z' || '0' <= v && v <= '9' || strings.ContainsRune("-._~", rune(v)):
			dec.WriteByte(byte(v))
		default:
			dec.WriteString("%" + hex)
		}
		i += 2
	}
	segs := strings.Split(dec.String()[1:], "/")
	var stack []string
	for k, s := range segs {
		last := k == len(segs)-1
		name, _, params := strings.Cut(s, ";")
		switch {
		case (name == "." || name == "..") && params:
			return "", false
		case s == "..":
			if len(stack) == 0 {
				return "", false
			}
			stack = stack[:len(stack)-1]
			if last {
				stack = append(stack, "")
			}
		case s == ".":
			if last {
				stack = append(stack, "")
			}
		case s == "":
			if last {
				stack = append(stack, "")
			}
		default:
			stack = append(stack, s)
		}
	}
	return "/" + strings.Join(stack, "/"), true
}

func TestReferenceNormalizeAgrees(t *testing.T) {
	for _, in := range []string{"/", "//", "/a/..", "/%61/./b//", "/../x", "/a/..;/b", "/a%2F/../b", "/a\\b"} {
		want, ok := referenceNormalize(in)
		got, err := NormalizePath(nil, []byte(in))
		if ok != (err == nil) || (ok && string(got) != want) {
			t.Errorf("%q: NormalizePath %q, %v; reference %q, %v", in, got, err, want, ok)
		}
	}
}
