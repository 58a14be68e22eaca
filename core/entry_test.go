package core_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/proxyproto"
)

// startForwardedEcho runs a backend that answers the X-Forwarded-For and
// X-Forwarded-Proto values it received, "for proto".
func startForwardedEcho(t testing.TB) string {
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("X-Forwarded-For")+" "+r.Header.Get("X-Forwarded-Proto"))
	}))
}

// socketpair returns the two ends of a Unix stream socketpair: the engine's,
// to Enroll, and ours, to write the client's bytes on and read the answers.
func socketpair(t *testing.T) (engine, ours *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	wrap := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	engine, ours = wrap(fds[0]), wrap(fds[1])
	t.Cleanup(func() { _ = ours.Close() })
	return engine, ours
}

// A connection enrolled over a real socketpair with a PROXY v2 header (as
// the TLS terminator hands them over) takes the same steps as a listener's:
// the backend and the event see the address and scheme of the header, the
// IP lists judge that address, and the connection serves keep-alive
// requests.
func TestEnrollProxyV2(t *testing.T) {
	g := &core.Global{IPBlock: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}
	o, srv := startObservedKeys(t, 1, nil, g, testRoute("echo.test", startForwardedEcho(t)))

	engine, ours := socketpair(t)
	in := proxyproto.Info{
		Src: netip.MustParseAddrPort("203.0.113.9:4711"), Dst: netip.MustParseAddrPort("127.0.0.1:8443"),
		SSL: true, Authority: "echo.test", ALPN: "http/1.1", TLSVersion: "TLSv1.3",
		ClientCert: true, ClientCN: "alice", Fingerprint: "ab12", Subject: "CN=alice",
	}
	hdr := proxyproto.Append(nil, &in)
	req := "GET / HTTP/1.1\r\nHost: echo.test\r\n\r\n"
	// The header and the first request arrive before the engine has the
	// connection, in one write with a pipelined second request.
	if _, err := ours.Write([]byte(string(hdr) + req + req)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Enroll(engine, nil); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(ours)
	for i := range 2 {
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 || body != "203.0.113.9 https" {
			t.Fatalf("response %d: %d %q, want 200 \"203.0.113.9 https\"", i, resp.StatusCode, body)
		}
	}
	evs := o.waitEvents(t, 2)
	to, _ := evs[0]["to"].(map[string]any)
	if evs[0]["from"] != "203.0.113.9" || to == nil || to["scheme"] != "https" {
		t.Fatalf("event from %v to %v, want 203.0.113.9 and https", evs[0]["from"], evs[0]["to"])
	}

	// ALPN h2 (an HTTP/2 front end's stream): the event says HTTP/2.0.
	engine3, ours3 := socketpair(t)
	h2 := in
	h2.ALPN = "h2"
	if _, err := ours3.Write(append(proxyproto.Append(nil, &h2), req...)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Enroll(engine3, nil); err != nil {
		t.Fatal(err)
	}
	if resp, body := readResponse(t, bufio.NewReader(ours3), "GET"); resp.StatusCode != 200 {
		t.Fatalf("h2 stream: %d %s", resp.StatusCode, body)
	}
	if evs = o.waitEvents(t, 3); evs[2]["protocol"] != "HTTP/2.0" || evs[0]["protocol"] != "HTTP/1.1" {
		t.Fatalf("protocols %v and %v, want HTTP/1.1 then HTTP/2.0", evs[0]["protocol"], evs[2]["protocol"])
	}

	// A client the block list names is refused on its real address.
	engine2, ours2 := socketpair(t)
	in.Src = netip.MustParseAddrPort("198.51.100.7:1")
	if _, err := ours2.Write(append(proxyproto.Append(nil, &in), req...)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Enroll(engine2, nil); err != nil {
		t.Fatal(err)
	}
	if resp, body := readResponse(t, bufio.NewReader(ours2), "GET"); resp.StatusCode != 403 {
		t.Fatalf("blocked client: %d %s", resp.StatusCode, body)
	}
}

// Metadata given to Enroll out of band needs no header; a stream that
// should start with a header and does not is answered 400 and closed.
func TestEnrollInfoAndBadHeader(t *testing.T) {
	be := startForwardedEcho(t)
	srv := startProxy(t, core.Config{}, testRoute("echo.test", be))
	req := "GET / HTTP/1.1\r\nHost: echo.test\r\n\r\n"

	engine, ours := socketpair(t)
	info := &core.ClientInfo{Addr: netip.MustParseAddrPort("[2001:db8::5]:443"), TLS: true}
	if err := srv.Enroll(engine, info); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(ours)
	if resp, body := roundTrip(t, ours, br, req, "GET"); resp.StatusCode != 200 || body != "2001:db8::5 https" {
		t.Fatalf("out-of-band info: %d %q", resp.StatusCode, body)
	}

	engine, ours = socketpair(t)
	if err := srv.Enroll(engine, nil); err != nil {
		t.Fatal(err)
	}
	br = bufio.NewReader(ours)
	resp, body := roundTrip(t, ours, br, req, "GET")
	if resp.StatusCode != 400 || resp.Header.Get("Otoroshi-Error-Cause") != "errors.bad.request" {
		t.Fatalf("no header: %d %s", resp.StatusCode, body)
	}
	_ = ours.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection left open after a missing header: %v %v", n, err)
	}
}

// With Config.ProxyProtocol, the plaintext listener reads a PROXY header
// (here version 1, as a TCP load balancer writes it) on every connection;
// a LOCAL header (the balancer's health check) keeps the socket's address.
func TestListenerProxyProtocol(t *testing.T) {
	be := startForwardedEcho(t)
	srv := startProxy(t, core.Config{ProxyProtocol: true}, testRoute("echo.test", be))
	req := "GET / HTTP/1.1\r\nHost: echo.test\r\n\r\n"
	f := func(preface, want string, status int) {
		t.Helper()
		c := dial(t, srv)
		br := bufio.NewReader(c)
		resp, body := roundTrip(t, c, br, preface+req, "GET")
		if resp.StatusCode != status || (status == 200 && body != want) {
			t.Fatalf("%q: %d %q, want %d %q", preface, resp.StatusCode, body, status, want)
		}
	}
	f("PROXY TCP4 192.0.2.44 10.0.0.1 5555 80\r\n", "192.0.2.44 http", 200)
	f(string(proxyproto.Append(nil, &proxyproto.Info{Src: netip.MustParseAddrPort("[2001:db8::9]:1"), Dst: netip.MustParseAddrPort("[::1]:80")})), "2001:db8::9 http", 200)
	f("PROXY UNKNOWN\r\n", "127.0.0.1 http", 200)
	f("", "", 400)
	f("PROXY TCP4 192.0.2.44 10.0.0.1 5555\r\n", "", 400)
}
