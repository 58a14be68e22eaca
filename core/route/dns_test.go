package route

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDNS is a minimal DNS server on loopback UDP that answers A and AAAA questions from
// a fixed table, so that Compile's resolution is tested without leaving the machine.
type fakeDNS struct {
	conn    net.PacketConn
	names   map[string][]netip.Addr // lower-case name without the final dot
	queries atomic.Int32
}

func startFakeDNS(t *testing.T, names map[string][]netip.Addr) (*fakeDNS, *net.Resolver) {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{conn: conn, names: names}
	t.Cleanup(func() { conn.Close() })
	go d.serve()
	addr := conn.LocalAddr().String()
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", addr)
	}}
	return d, res
}

func (d *fakeDNS) serve() {
	buf := make([]byte, 512)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := d.answer(buf[:n]); resp != nil {
			d.conn.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query (RFC 1035 §4.1), or nil for garbage.
func (d *fakeDNS) answer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	d.queries.Add(1)
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1 : i+3])
	question := q[12 : i+5]
	name := strings.ToLower(strings.Join(labels, "."))
	addrs, known := d.names[name]

	resp := make([]byte, 12, 512)
	copy(resp, q[:2]) // id
	flags := uint16(0x8180)
	if !known {
		flags |= 3 // NXDOMAIN
	}
	var answers [][]byte
	for _, a := range addrs {
		if qtype == 1 && a.Is4() || qtype == 28 && a.Is6() {
			rr := []byte{0xc0, 12, 0, byte(qtype), 0, 1, 0, 0, 0, 60, 0, byte(len(a.AsSlice()))}
			answers = append(answers, append(rr, a.AsSlice()...))
		}
	}
	binary.BigEndian.PutUint16(resp[2:], flags)
	binary.BigEndian.PutUint16(resp[4:], 1)
	binary.BigEndian.PutUint16(resp[6:], uint16(len(answers)))
	resp = append(resp, question...)
	for _, a := range answers {
		resp = append(resp, a...)
	}
	return resp
}

func TestCompileResolvesThroughDNS(t *testing.T) {
	dns, res := startFakeDNS(t, map[string][]netip.Addr{
		"backend.test":   {netip.MustParseAddr("10.0.0.7")},
		"dual.test":      {netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("10.0.0.8")},
		"v6only.test":    {netip.MustParseAddr("2001:db8::2")},
		"noaddress.test": nil,
	})
	opts := CompileOptions{Resolver: res, ResolveTimeout: 2 * time.Second}
	tab := mustCompile(t, `[
	 {"id":"a","frontend":{"domains":["a.com"]},"backend":{"targets":[
	  {"id":"1","hostname":"backend.test","port":80},{"id":"2","hostname":"BACKEND.test.","port":81},
	  {"id":"3","hostname":"dual.test","port":82},{"id":"4","hostname":"v6only.test","port":83}]}},
	 {"id":"b","frontend":{"domains":["b.com"]},"backend":{"targets":[{"hostname":"backend.test","port":80}]}},
	 {"id":"off","enabled":false,"frontend":{"domains":["c.com"]},"backend":{"targets":[{"hostname":"unknown.test","port":80}]}}]`, opts)
	ups := tab.Route("a").Upstreams()
	f := func(i int, want string) {
		t.Helper()
		if got := ups[i].Addr.String(); got != want {
			t.Fatalf("target %d resolved to %s, want %s", i, got, want)
		}
	}
	f(0, "10.0.0.7:80")
	f(1, "10.0.0.7:81")
	f(2, "10.0.0.8:82") // IPv4 preferred
	f(3, "[2001:db8::2]:83")
	if ups[1].HostPort != "BACKEND.test.:81" {
		t.Fatalf("HostPort %q must keep the configured hostname", ups[1].HostPort)
	}
	// backend.test is asked once (A and AAAA) although three targets use it; the
	// disabled route is not resolved at all.
	if q := dns.queries.Load(); q > 8 {
		t.Fatalf("%d DNS queries: hostnames must be resolved once per Compile", q)
	}

	routes, _ := DecodeRoutes([]byte(`[{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[
	 {"hostname":"127.0.0.1","port":80},{"hostname":"unknown.test","port":81},{"hostname":"noaddress.test","port":82}]}}]`))
	_, err := Compile(routes, opts)
	if !errors.Is(err, ErrUnresolvable) {
		t.Fatalf("error %v does not wrap ErrUnresolvable", err)
	}
	for _, want := range []string{`route "r": backend.targets[1].hostname`, `"unknown.test"`, `route "r": backend.targets[2].hostname`} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %s", err, want)
		}
	}
}

func TestCompileResolveTimeout(t *testing.T) {
	// A DNS server that never answers: Compile gives up after ResolveTimeout.
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := conn.LocalAddr().String()
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", addr)
	}}
	routes, _ := DecodeRoutes([]byte(`[{"id":"r","frontend":{"domains":["a.com"]},"backend":{"targets":[{"hostname":"slow.test","port":80}]}}]`))
	start := time.Now()
	_, err = Compile(routes, CompileOptions{Resolver: res, ResolveTimeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrUnresolvable) {
		t.Fatalf("error %v, want ErrUnresolvable", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Compile took %s despite a 200ms resolve timeout", el)
	}
}

// TestCompileOtoroshiExport compiles the route of a real Otoroshi export.
func TestCompileOtoroshiExport(t *testing.T) {
	data, err := os.ReadFile("testdata/otoroshi-export-tunnel-demo.json")
	if err != nil {
		t.Fatalf("cannot read the Otoroshi export: %s", err)
	}
	routes, err := DecodeRoutes(data)
	if err != nil {
		t.Fatal(err)
	}
	_, res := startFakeDNS(t, map[string][]netip.Addr{"whoami-next-gen.oto.tools": {netip.MustParseAddr("127.0.0.1")}})
	tab, err := Compile(routes, CompileOptions{Resolver: res})
	if err != nil {
		t.Fatalf("cannot compile the export: %s", err)
	}
	c := tab.Route("route_dd78a69e0-26b7-4587-b9e1-a9073cd18868")
	if c == nil || c.Upstreams()[0].Addr.String() != "127.0.0.1:8080" || c.Upstreams()[0].HostPort != "whoami-next-gen.oto.tools:8080" {
		t.Fatalf("unexpected compiled route %+v", c)
	}
	if len(c.Steps) != 2 || !c.Steps[0].Supported || c.Steps[1].Supported {
		t.Fatalf("steps %+v: OverrideHost supported, TunnelPlugin not", c.Steps)
	}
	if w := tab.Warnings(); len(w) != 1 || !strings.Contains(w[0].Message, "TunnelPlugin") {
		t.Fatalf("warnings %v, want only the unsupported TunnelPlugin", w)
	}
	req, buf := request("GET", "whoami-exposed-next-gen.oto.tools", "/hello")
	if tab.Match(req, buf) != c {
		t.Fatalf("the export's domain does not match its route")
	}
}
