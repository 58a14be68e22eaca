package proxyproto

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseV1(t *testing.T) {
	f := func(in string, wantN int, wantErr error, src, dst string) {
		t.Helper()
		var h Header
		n, err := ParseV1([]byte(in), &h)
		if !errors.Is(err, wantErr) || n != wantN {
			t.Fatalf("%q: %d %v, want %d %v", in, n, err, wantN, wantErr)
		}
		if err != nil {
			return
		}
		if src == "" {
			if !h.Local || h.Src.IsValid() {
				t.Fatalf("%q: %+v, want UNKNOWN", in, h)
			}
			return
		}
		if h.Src != netip.MustParseAddrPort(src) || h.Dst != netip.MustParseAddrPort(dst) {
			t.Fatalf("%q: src %v dst %v", in, h.Src, h.Dst)
		}
	}
	v4 := "PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\n"
	f(v4+"GET / HTTP/1.1\r\n", len(v4), nil, "192.0.2.7:56324", "10.0.0.1:443")
	v6 := "PROXY TCP6 2001:db8::7 ::1 65535 80\r\n"
	f(v6, len(v6), nil, "[2001:db8::7]:65535", "[::1]:80")
	f("PROXY UNKNOWN\r\n", 15, nil, "", "")
	f("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 35, nil, "", "")
	// Prefixes ask for more; other bytes are not a header.
	f("PROX", 0, ErrNeedMore, "", "")
	f("PROXY TCP4 192.0.2.7", 0, ErrNeedMore, "", "")
	f("GET / HTTP/1.1\r\n", 0, ErrNotProxy, "", "")
	f("\r\n\r\n\x00\r\nQUIT\n", 0, ErrNotProxy, "", "")
	// Malformed.
	f("PROXY TCP4 192.0.2.7 10.0.0.1 56324\r\n", 0, ErrMalformed, "", "")
	f("PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n", 0, ErrMalformed, "", "")   // family mismatch
	f("PROXY TCP6 192.0.2.7 10.0.0.1 1 2\r\n", 0, ErrMalformed, "", "")     // family mismatch
	f("PROXY TCP4 192.0.2.7 10.0.0.1 65536 2\r\n", 0, ErrMalformed, "", "") // port range
	f("PROXY TCP4 192.0.2.7 10.0.0.1 01 2\r\n", 0, ErrMalformed, "", "")    // leading zero
	f("PROXY TCP4 192.0.2.7 10.0.0.1 1 2 3\r\n", 0, ErrMalformed, "", "")   // extra field
	f("PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n", 0, ErrMalformed, "", "")     // protocol
	f("PROXY TCP4 192.0.2.7  10.0.0.1 1 2\r\n", 0, ErrMalformed, "", "")    // double space
	long := "PROXY TCP4 " + string(make([]byte, 100))
	f(long, 0, ErrMalformed, "", "")
}

// Version 1 is read once per connection; netip.ParseAddr's string costs at
// most one small allocation per address.
func TestParseV1Allocs(t *testing.T) {
	var h Header
	for _, in := range []string{"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\n", "PROXY TCP6 2001:db8::7 ::1 65535 80\r\n"} {
		b := []byte(in)
		if n := testing.AllocsPerRun(100, func() { _, _ = ParseV1(b, &h) }); n > 2 {
			t.Fatalf("%q: %v allocs", in, n)
		}
	}
}
