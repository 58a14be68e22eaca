package proxyproto

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// FuzzParse feeds both parsers arbitrary bytes, as a client of a listener
// with the PROXY protocol on can send: they never panic, a header they
// accept lies within the input (version 1 ending in CRLF), and any other
// outcome is one of the three errors.
func FuzzParse(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::7 ::1 65535 80\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(Append(nil, &Info{Src: netip.MustParseAddrPort("10.1.2.3:4567"), Dst: netip.MustParseAddrPort("127.0.0.1:8443"),
		ALPN: "h2", Authority: "a.test", SSL: true, ClientCert: true, ClientCN: "x", Fingerprint: "ab", Subject: "CN=x", VerifiedBy: "ca"}))
	f.Add([]byte(Signature + "\x21\x11\x00\x0c"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Header
		for _, parse := range []func([]byte, *Header) (int, error){Parse, ParseV1} {
			n, err := parse(b, &h)
			switch {
			case err == nil:
				if n <= 0 || n > len(b) {
					t.Fatalf("header length %d of %d bytes", n, len(b))
				}
			case errors.Is(err, ErrNeedMore), errors.Is(err, ErrNotProxy), errors.Is(err, ErrMalformed):
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		if n, err := ParseV1(b, &h); err == nil && !bytes.HasSuffix(b[:n], []byte("\r\n")) {
			t.Fatalf("v1 header %q does not end in CRLF", b[:n])
		}
	})
}
