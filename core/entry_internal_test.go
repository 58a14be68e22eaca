package core

import (
	"net/netip"
	"testing"

	"github.com/torii-gateway/torii/proxyproto"
)

// A PROXY header's client address costs no allocation; its TLS details are
// copied once into the connection's ClientInfo, so nothing refers to the
// peeked bytes afterwards.
func TestApplyHeader(t *testing.T) {
	in := proxyproto.Info{Src: netip.MustParseAddrPort("192.0.2.1:9"), Dst: netip.MustParseAddrPort("127.0.0.1:80")}
	b := proxyproto.Append(nil, &in)
	var h proxyproto.Header
	if _, err := proxyproto.Parse(b, &h); err != nil {
		t.Fatal(err)
	}
	cc := &clientConn{}
	if n := testing.AllocsPerRun(100, func() { cc.applyHeader(&h) }); n != 0 {
		t.Fatalf("address-only header: %v allocs", n)
	}
	if cc.remote != in.Src.Addr() || cc.tls || cc.peer != nil {
		t.Fatalf("remote %v tls %v peer %v", cc.remote, cc.tls, cc.peer)
	}

	in.SSL, in.Authority, in.ALPN, in.ClientCert, in.ClientCN, in.Subject, in.Fingerprint, in.VerifiedBy =
		true, "api.test", "http/1.1", true, "alice", "CN=alice,O=T", "ab12", "ca-1"
	b = proxyproto.Append(nil, &in)
	if _, err := proxyproto.Parse(b, &h); err != nil {
		t.Fatal(err)
	}
	cc.applyHeader(&h)
	clear(b) // the peeked bytes die
	p := cc.peer
	if !cc.tls || p == nil || p.ServerName != "api.test" || p.ALPN != "http/1.1" || !p.ClientCert ||
		p.ClientCN != "alice" || p.ClientSubject != "CN=alice,O=T" || p.ClientFingerprint != "ab12" || p.ClientVerifiedBy != "ca-1" {
		t.Fatalf("tls %v peer %+v", cc.tls, p)
	}
}
