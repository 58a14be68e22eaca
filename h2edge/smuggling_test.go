package h2edge_test

import (
	"bytes"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/torii-gateway/torii/h2edge"
)

// rawConn is an HTTP/2 client connection driven frame by frame.
type rawConn struct {
	c  net.Conn
	fr *http2.Framer
	id uint32
}

// dialRaw connects to the env (over TLS with ALPN h2 in the TLS variants) and sends the
// preface and empty SETTINGS.
func (e *env) dialRaw(t *testing.T) *rawConn {
	t.Helper()
	var c net.Conn
	var err error
	if e.tlsClient != nil {
		c, err = tls.Dial("tcp", e.addr, e.tlsClient)
	} else {
		c, err = net.Dial("tcp", e.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return &rawConn{c: c, fr: fr, id: 1}
}

// headers encodes fields (name, value pairs, written as given: no lowercasing, no checks).
func headers(fields ...string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for i := 0; i < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return b.Bytes()
}

// send opens a stream with block and the DATA chunks (the last one ends the stream), then
// returns the stream's outcome: its :status, or "RST" for a reset, or "GOAWAY".
func (rc *rawConn) send(t *testing.T, block []byte, data ...string) string {
	t.Helper()
	id := rc.id
	rc.id += 2
	if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: len(data) == 0}); err != nil {
		t.Fatal(err)
	}
	for i, d := range data {
		if err := rc.fr.WriteData(id, i == len(data)-1, []byte(d)); err != nil {
			return "write failed"
		}
	}
	return rc.outcome(id)
}

// TestH2DowngradeSmuggling: every malformed spelling of the H2.CL, H2.TE, CRLF-injection and
// pseudo-header classes is refused (reset or 4xx) and never reaches the backend; a body that
// looks like a second request is forwarded as the body of exactly one request.
func TestH2DowngradeSmuggling(t *testing.T) { bothServers(t, testH2DowngradeSmuggling) }

func testH2DowngradeSmuggling(t *testing.T) {
	e := newEnv(t, h2edge.Config{})
	base := []string{":method", "POST", ":scheme", "http", ":path", "/", ":authority", "h2.test"}
	with := func(extra ...string) []byte { return headers(append(append([]string{}, base...), extra...)...) }
	smuggled := "GET /admin HTTP/1.1\r\nHost: h2.test\r\n\r\n"
	cases := []struct {
		name  string
		block []byte
		data  []string
	}{
		{"H2.CL shorter", with("content-length", "0"), []string{smuggled}},
		{"H2.CL longer", with("content-length", "100"), []string{"abc"}},
		{"H2.CL two values", with("content-length", "3", "content-length", "4"), []string{"abc"}},
		{"H2.TE chunked", with("transfer-encoding", "chunked"), []string{"0\r\n\r\n" + smuggled}},
		{"TE not trailers", with("te", "gzip"), []string{"x"}},
		{"connection", with("connection", "keep-alive"), []string{"x"}},
		{"keep-alive", with("keep-alive", "timeout=5"), []string{"x"}},
		{"proxy-connection", with("proxy-connection", "keep-alive"), []string{"x"}},
		{"upgrade", with("upgrade", "websocket"), []string{"x"}},
		{"uppercase name", with("X-Upper", "1"), []string{"x"}},
		{"CRLF in value", with("x-a", "1\r\nTransfer-Encoding: chunked"), []string{"x"}},
		{"LF in value", with("x-a", "1\nfoo: bar"), []string{"x"}},
		{"NUL in value", with("x-a", "1\x00"), []string{"x"}},
		{"CRLF in name", with("x-a\r\nfoo", "1"), []string{"x"}},
		{"space in name", with("x a", "1"), []string{"x"}},
		{"CRLF in path", headers(":method", "GET", ":scheme", "http", ":path", "/ HTTP/1.1\r\nHost: x\r\n\r\nGET /", ":authority", "h2.test"), nil},
		{"space in method", headers(":method", "GET /admin", ":scheme", "http", ":path", "/", ":authority", "h2.test"), nil},
		{"missing :path", headers(":method", "GET", ":scheme", "http", ":authority", "h2.test"), nil},
		{"empty :path", headers(":method", "GET", ":scheme", "http", ":path", "", ":authority", "h2.test"), nil},
		{"missing :method", headers(":scheme", "http", ":path", "/", ":authority", "h2.test"), nil},
		{"duplicate :path", headers(":method", "GET", ":scheme", "http", ":path", "/", ":path", "/admin", ":authority", "h2.test"), nil},
		{"pseudo after regular", headers(":method", "GET", ":scheme", "http", "x-a", "1", ":path", "/", ":authority", "h2.test"), nil},
		{"unknown pseudo", with(":foo", "bar"), []string{"x"}},
		{"response pseudo", with(":status", "200"), []string{"x"}},
		{"CONNECT", headers(":method", "CONNECT", ":authority", "h2.test:443"), []string{smuggled}},
		{"CONNECT with path", headers(":method", "CONNECT", ":scheme", "http", ":path", "/", ":authority", "h2.test:443"), []string{smuggled}},
		{"extended CONNECT", headers(":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/", ":authority", "h2.test"), []string{smuggled}},
		{"host differs from :authority", with("host", "other.test"), []string{"x"}},
		{"two hosts", with("host", "h2.test", "host", "other.test"), []string{"x"}},
	}
	for _, c := range cases {
		rc := e.dialRaw(t)
		got := rc.send(t, c.block, c.data...)
		// A body shorter than its content-length is only known at END_STREAM, after the head
		// went to the engine: the request is cut short (the backend never gets a complete one)
		// and the stream answered 502.
		cut := c.name == "H2.CL longer" && got == "502"
		if !(got == "RST" || got == "GOAWAY" || got == "closed" || strings.HasPrefix(got, "4") || cut) {
			t.Errorf("%s: %q, want a refusal", c.name, got)
		}
	}
	// H2.CL shorter with the DATA late: the server has had time to act on the head alone, and
	// must still not forward a request whose body outgrows content-length 0.
	{
		rc := e.dialRaw(t)
		id := rc.id
		rc.id += 2
		if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: with("content-length", "0"), EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
		_ = rc.fr.WriteData(id, true, []byte(smuggled))
		if got := rc.outcome(id); !(got == "RST" || got == "GOAWAY" || got == "closed" || strings.HasPrefix(got, "4")) {
			t.Errorf("H2.CL shorter, DATA late: %q, want a refusal", got)
		}
	}
	// Trailers that framing depends on, or pseudo-headers in trailers.
	for _, tr := range []string{"content-length", "transfer-encoding", "host", ":path"} {
		rc := e.dialRaw(t)
		id := rc.id
		_ = rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: with("trailer", "x-ok"), EndHeaders: true})
		_ = rc.fr.WriteData(id, false, []byte("abc"))
		got := rc.send2trailers(t, id, headers("x-ok", "1", tr, "1"))
		if !(got == "RST" || got == "GOAWAY" || got == "closed" || strings.HasPrefix(got, "4")) {
			t.Errorf("trailer %s: %q, want a refusal", tr, got)
		}
	}
	if n := e.hits.Load(); n != 0 {
		t.Fatalf("the backend received %d complete requests from refused streams", n)
	}
	// Undeclared trailers are dropped by x/net: one request, without them.
	rc0 := e.dialRaw(t)
	id := rc0.id
	_ = rc0.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: with(), EndHeaders: true})
	_ = rc0.fr.WriteData(id, false, []byte("abc"))
	if got := rc0.send2trailers(t, id, headers("content-length", "100")); got != "200" {
		t.Errorf("undeclared trailer: %q", got)
	}
	e.mu.Lock()
	if cl := e.last.Header.Get("Content-Length"); e.last.ContentLength != -1 || cl != "" || len(e.last.Trailer) != 0 {
		t.Errorf("undeclared trailer forwarded: %v %v", e.last.Header, e.last.Trailer)
	}
	e.mu.Unlock()
	e.hits.Store(0)
	// A body that spells a request is the body of one request.
	rc := e.dialRaw(t)
	if got := rc.send(t, with("content-length", "38"), smuggled); got != "200" {
		t.Fatalf("valid request: %q", got)
	}
	rc2 := e.dialRaw(t)
	if got := rc2.send(t, with(), smuggled); got != "200" {
		t.Fatalf("valid request without length: %q", got)
	}
	if n := e.hits.Load(); n != 2 {
		t.Fatalf("backend saw %d requests, want 2", n)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last.URL.Path != "/" || string(e.lastB) != smuggled {
		t.Fatalf("backend saw %s with body %q", e.last.URL.Path, e.lastB)
	}
}

// send2trailers ends stream id with a trailer block and returns its outcome like send.
func (rc *rawConn) send2trailers(t *testing.T, id uint32, block []byte) string {
	t.Helper()
	rc.id += 2
	if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: true}); err != nil {
		return "write failed"
	}
	return rc.outcome(id)
}

// outcome reads frames until stream id's fate: its :status, "RST", "GOAWAY" or "closed".
func (rc *rawConn) outcome(id uint32) string {
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			return "closed"
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				return f.PseudoValue("status")
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return "RST"
			}
		case *http2.GoAwayFrame:
			return "GOAWAY"
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = rc.fr.WriteSettingsAck()
			}
		}
	}
}
