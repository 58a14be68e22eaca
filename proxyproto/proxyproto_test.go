package proxyproto

import (
	"errors"
	"net/netip"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	f := func(in Info) {
		t.Helper()
		b := Append(nil, &in)
		var h Header
		n, err := Parse(append(b, "GET / HTTP/1.1\r\n"...), &h)
		if err != nil || n != len(b) {
			t.Fatalf("Parse: %d %v (len %d)", n, err, len(b))
		}
		if h.Src != in.Src || h.Dst != in.Dst || string(h.Authority) != in.Authority || string(h.ALPN) != in.ALPN ||
			h.SSL != in.SSL || h.ClientCert != in.ClientCert || string(h.TLSVersion) != in.TLSVersion ||
			string(h.ClientCN) != in.ClientCN || string(h.Fingerprint) != in.Fingerprint ||
			string(h.Subject) != in.Subject || string(h.VerifiedBy) != in.VerifiedBy || string(h.Cipher) != in.Cipher ||
			string(h.Serial) != in.Serial || string(h.Issuer) != in.Issuer {
			t.Fatalf("got %+v for %+v", h, in)
		}
		// Every proper prefix asks for more.
		for i := 0; i < len(b); i++ {
			if _, err := Parse(b[:i], &h); !errors.Is(err, ErrNeedMore) {
				t.Fatalf("prefix %d: %v", i, err)
			}
		}
	}
	f(Info{Src: netip.MustParseAddrPort("10.1.2.3:4567"), Dst: netip.MustParseAddrPort("127.0.0.1:8443")})
	f(Info{Src: netip.MustParseAddrPort("[2001:db8::1]:4567"), Dst: netip.MustParseAddrPort("[::1]:8443"),
		ALPN: "http/1.1", Authority: "api.example.com", SSL: true, TLSVersion: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256"})
	f(Info{Src: netip.MustParseAddrPort("127.0.0.1:1"), Dst: netip.MustParseAddrPort("127.0.0.1:2"), SSL: true, ClientCert: true,
		ClientCN: "alice", Fingerprint: "ab12", Subject: "CN=alice,O=Torii", VerifiedBy: "ca-1",
		Serial: "1f2e3d", Issuer: "CN=Torii test CA,O=Torii"})
}

func TestParseRefuses(t *testing.T) {
	var h Header
	f := func(b string, want error) {
		t.Helper()
		if _, err := Parse([]byte(b), &h); !errors.Is(err, want) {
			t.Fatalf("%q: %v, want %v", b, err, want)
		}
	}
	f("GET / HTTP/1.1\r\n", ErrNotProxy)
	f("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", ErrNotProxy)
	f(Signature+"\x31\x11\x00\x0c"+"012345678901", ErrMalformed)             // version 3
	f(Signature+"\x21\x11\x00\x04"+"0123", ErrMalformed)                     // short addresses
	f(Signature+"\x21\x11\xff\xff", ErrMalformed)                            // longer than MaxHeader
	f(Signature+"\x21\x11\x00\x0f"+"012345678901\x01\x00\x05", ErrMalformed) // TLV past the end
	if n, err := Parse([]byte(Signature+"\x20\x00\x00\x00rest"), &h); err != nil || n != 16 || !h.Local {
		t.Fatalf("LOCAL: %d %v %+v", n, err, h)
	}
}

func TestParseAllocs(t *testing.T) {
	b := Append(nil, &Info{Src: netip.MustParseAddrPort("10.1.2.3:4567"), Dst: netip.MustParseAddrPort("127.0.0.1:8443"),
		SSL: true, Authority: "a.example.com", ALPN: "http/1.1", TLSVersion: "TLSv1.3"})
	var h Header
	if a := testing.AllocsPerRun(100, func() { _, _ = Parse(b, &h) }); a != 0 {
		t.Fatalf("%v allocs per Parse", a)
	}
}
