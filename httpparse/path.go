package httpparse

// Path normalisation for a proxy that routes by path (RFC 3986 §6.2.2).
//
// A gateway and the backend behind it must read a path the same way: if the
// gateway routes "/%61dmin", "//admin", "/./admin" or "/x/../admin" by its raw
// bytes, none of them takes a "/admin" route (and whatever guards it), yet
// most backends serve all four as "/admin". NormalizePath gives the one form
// that routing, access rules and the backend all see:
//
//	pct-encoded = "%" HEXDIG HEXDIG                    (RFC 3986 §2.1)
//	unreserved  = ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3)
//
//  1. An encoded unreserved character is decoded (§2.3, §6.2.2.2: "%61" is
//     "a", "%2E" is "."); every other encoding is kept, with upper-case hex
//     digits (§6.2.2.1): "%2f" becomes "%2F", which stays an encoded slash
//     and so part of its segment, never a separator.
//  2. Empty segments are dropped: "//a///b" is "/a/b" (not RFC 3986, which
//     keeps them; it is what nginx's merge_slashes does and what most
//     backends' file and route lookups do).
//  3. Dot segments are removed (§5.2.4): "/a/./b" is "/a/b", "/a/../b" is
//     "/b"; a last "." or ".." segment leaves a trailing slash ("/a/.." is
//     "/"). Steps 1-3 happen in that order, so "%2e%2e" is a ".." segment.
//
// It refuses what no normal form can make safe: a "%" without two hex digits
// after it, an encoded control character ("%00"-"%1F", "%7F": NUL and CR LF
// truncate or split the path in many backends), a ".." that climbs above the
// root (RFC 3986 §5.2.4 would drop it silently; the request is an attack or a
// bug), a raw "\" (not a path byte in RFC 3986; Windows backends and URL
// parsers following WHATWG read it as "/", so "/a\..\admin" is "/admin" to
// them), and a "." or ".." segment followed by ";" ("/a/..;/admin": servlet
// containers cut path parameters first and read it as "/admin").
//
// The query is not part of the path and is never touched.

// maxPctValue is the highest byte value; the tables below are indexed by byte.
const maxPctValue = 0xff

// unreservedByte marks the unreserved characters of RFC 3986 §2.3, which an
// encoding never needs to hide and which NormalizePath therefore decodes.
var unreservedByte = func() (t [maxPctValue + 1]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") {
		t[c] = true
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

// PathIsNormal reports whether NormalizePath would return path unchanged
// without looking further: no "%", no "\", no empty segment and no "." or
// ".." segment. It is the fast path: one pass over the bytes that finds
// nothing to do for nearly every real path. Safe for concurrent use; does not
// allocate.
func PathIsNormal(path []byte) bool {
	for i := 0; i < len(path); i++ {
		if !pathSpecial[path[i]] {
			continue
		}
		if path[i] != '/' {
			return false // "%" or "\"
		}
		if i+1 < len(path) && (path[i+1] == '/' || path[i+1] == '.' && isDotSegmentAt(path, i+1)) {
			return false
		}
	}
	return true
}

// pathSpecial marks the bytes PathIsNormal stops at.
var pathSpecial = func() (t [maxPctValue + 1]bool) {
	t['%'], t['\\'], t['/'] = true, true, true
	return t
}()

// isDotSegmentAt reports whether the segment starting at path[i] (just after
// a "/") is "." or "..", or one of them followed by ";" (a path parameter).
func isDotSegmentAt(path []byte, i int) bool {
	j := i + 1
	if j < len(path) && path[j] == '.' {
		j++
	}
	return j == len(path) || path[j] == '/' || path[j] == ';'
}

// NormalizePath returns the normal form of path, an absolute path without
// query (a Request's Path), as described above. A path that is already
// normal (PathIsNormal) is returned as is. Otherwise the result is built in
// dst[:0], which may be path[:0]: the result is never longer than path and
// every byte is read before it is overwritten, so a path can be normalised
// in place. The result then aliases dst. An empty path (an absolute-form
// target without one) is returned as is; any other path must start with "/".
//
// On error (ErrBadPercentEncoding, ErrEncodedControl, ErrPathAboveRoot,
// ErrBackslashInPath, ErrDotSegmentParams, ErrBadTarget; all answer 400) dst
// holds garbage, and so does path when normalised in place.
//
// Safe for concurrent use with distinct buffers; does not allocate when dst
// has room for len(path) bytes.
func NormalizePath(dst, path []byte) ([]byte, error) {
	if len(path) == 0 {
		return path, nil
	}
	if path[0] != '/' {
		return nil, ErrBadTarget
	}
	if PathIsNormal(path) {
		return path, nil
	}
	out := dst[:0]
	// Invariant: len(out) <= j, the bytes of path consumed so far, so writing
	// out never overtakes reading path when both share memory.
	for i := 1; ; {
		mark := len(out)
		out = append(out, '/')
		j := i
		for j < len(path) && path[j] != '/' {
			c := path[j]
			switch c {
			case '\\':
				return nil, ErrBackslashInPath
			case '%':
				if j+2 >= len(path) || charClass[path[j+1]]&classHex == 0 || charClass[path[j+2]]&classHex == 0 {
					return nil, ErrBadPercentEncoding
				}
				v := unhex(path[j+1])<<4 | unhex(path[j+2])
				j += 3
				switch {
				case v < 0x20 || v == 0x7f:
					return nil, ErrEncodedControl
				case unreservedByte[v]:
					out = append(out, v)
				default:
					out = append(out, '%', upperHex[v>>4], upperHex[v&15])
				}
				continue
			}
			out = append(out, c)
			j++
		}
		last := j == len(path)
		seg := out[mark+1:]
		switch {
		case len(seg) == 0:
			if !last {
				out = out[:mark] // an empty segment: "//" merged
			}
		case seg[0] == '.' && (len(seg) == 1 || seg[1] == ';'):
			if len(seg) > 1 {
				return nil, ErrDotSegmentParams
			}
			out = out[:mark]
			if last {
				out = append(out, '/')
			}
		case len(seg) >= 2 && seg[0] == '.' && seg[1] == '.' && (len(seg) == 2 || seg[2] == ';'):
			if len(seg) > 2 {
				return nil, ErrDotSegmentParams
			}
			out = out[:mark]
			if len(out) == 0 {
				return nil, ErrPathAboveRoot
			}
			out = out[:lastSlash(out)]
			if last {
				out = append(out, '/')
			}
		}
		if last {
			break
		}
		i = j + 1
	}
	if len(out) == 0 {
		panic("BUG: httpparse: a normalised path is never empty")
	}
	return out, nil
}

// lastSlash returns the index of the last "/" in b, which starts with one.
func lastSlash(b []byte) int {
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return 0
}
