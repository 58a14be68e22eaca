package core_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/h2"
)

// Fuzz targets of the HTTP/2 server end to end: a real engine with h2c on, on loopback, a real
// backend. make fuzz runs them for FUZZTIME each; their seeds run with make test.

// h2Block is an HPACK block of fields "name", "value", ...
func h2Block(fields ...string) []byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return buf.Bytes()
}

// h2Script turns fuzz bytes into frames: each frame is a kind byte, a flags byte, a stream byte,
// a length byte and that many payload bytes. Kinds 0-15 are frame types with the payload as
// given; 16-19 are HEADERS carrying a valid GET, POST with content-length, POST without, and
// trailers (the payload bytes are then ignored), so that streams get to the engine.
func h2Script(data []byte) []byte {
	out := []byte(h2.Preface)
	out = h2.AppendFrameHeader(out, 0, h2.FrameSettings, 0, 0)
	for len(data) >= 4 {
		kind, flags, sid, n := data[0], data[1], uint32(data[2]), int(data[3])
		data = data[4:]
		n = min(n, len(data))
		p := data[:n]
		data = data[n:]
		t := h2.FrameType(kind % 16)
		switch kind % 24 {
		case 16:
			t, p = h2.FrameHeaders, h2Block(":method", "GET", ":scheme", "http", ":path", "/f?"+strconv.Itoa(n), ":authority", "fuzz.test")
		case 17:
			t, p = h2.FrameHeaders, h2Block(":method", "POST", ":scheme", "http", ":path", "/p", ":authority", "fuzz.test", "content-length", strconv.Itoa(n))
		case 18:
			t, p = h2.FrameHeaders, h2Block(":method", "POST", ":scheme", "http", ":path", "/c", ":authority", "fuzz.test", "trailer", "x-t")
		case 19:
			t, p = h2.FrameHeaders, h2Block("x-t", "1")
		}
		out = h2.AppendFrameHeader(out, len(p), t, flags, sid)
		out = append(out, p...)
	}
	return out
}

// h2Neighbour is a well-behaved HTTP/2 client on its own connection: its requests must keep
// being served whatever the fuzzed connections do.
type h2Neighbour struct {
	cl   *http.Client
	base string // scheme and authority: http://addr (h2c) or https://bench.test (TLS)
}

func (n *h2Neighbour) check(t *testing.T) {
	t.Helper()
	resp, err := n.cl.Get(n.base + "/neighbour")
	if err != nil {
		t.Fatalf("neighbour: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("neighbour: %s %s", resp.Proto, resp.Status)
	}
}

// pingDone is the PING every script ends with: its ACK says the server went through the script.
var pingDone = []byte("h2fuzzOK")

// runScript writes script and a PING on a fresh connection and reads until the PING's ACK, the
// server closes the connection or wait passes.
func runScript(t *testing.T, addr string, script []byte, wait time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v (is the server alive?)", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	script = h2.AppendPing(script, false, pingDone)
	go func() { _, _ = c.Write(script) }()
	readUntilAck(c)
}

// readUntilAck reads frames' bytes from c until the ACK of the PING pingDone or an error (the
// server closed the connection, or the deadline passed).
func readUntilAck(c io.Reader) {
	ack := h2.AppendPing(nil, true, pingDone)
	var got []byte
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil || bytes.Contains(got, ack) {
			return
		}
		if len(got) > 1<<20 {
			got = got[len(got)-len(ack):]
		}
	}
}

// FuzzH2Conn: arbitrary frame sequences on a connection never stop the server, and a neighbour
// connection keeps being served.
func FuzzH2Conn(f *testing.F) {
	be := startFixedBackend(f)
	srv := startProxy(f, core.Config{Loops: 1, HTTP2: core.HTTP2Config{Enabled: true, H2C: true}}, quickRoute(f, be))
	addr := srv.Addr().String()
	nb := &h2Neighbour{cl: h2cClient(addr), base: "http://" + addr}
	f.Add([]byte{16, 5, 1, 0})                                        // GET, END_STREAM|END_HEADERS
	f.Add([]byte{17, 4, 1, 3, 0, 0, 0, 0, 1, 3, 3, 'a', 'b', 'c'})    // POST, DATA with END_STREAM
	f.Add([]byte{18, 4, 3, 0, 0, 0, 3, 2, 'h', 'i', 19, 5, 3, 0})     // chunked body, trailers
	f.Add([]byte{16, 4, 1, 0, 3, 0, 1, 4, 0, 0, 0, 8, 16, 5, 1, 0})   // reset, then reuse of the id
	f.Add([]byte{16, 0, 1, 0, 9, 4, 1, 2, 0x82, 0x84})                // HEADERS then CONTINUATION
	f.Add([]byte{8, 0, 0, 4, 0x7f, 0xff, 0xff, 0xff, 16, 5, 5, 0})    // window overflow
	f.Add([]byte{4, 0, 0, 6, 0, 4, 0x80, 0, 0, 0, 16, 5, 1, 0})       // SETTINGS_INITIAL_WINDOW_SIZE too big
	f.Add([]byte{4, 0, 0, 6, 0, 4, 0, 0, 0, 0, 16, 5, 1, 0, 8, 0, 1}) // zero window, then GET
	f.Add([]byte{1, 5, 1, 4, 0xff, 0xff, 0xff, 0xff})                 // garbage HPACK
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		runScript(t, addr, h2Script(data), 300*time.Millisecond)
		nb.check(t)
	})
}

// h2RespBackend serves, for each request, the raw bytes of the current fuzz input.
type h2RespBackend struct {
	mu   sync.Mutex
	resp []byte
}

func (b *h2RespBackend) serve(c net.Conn) {
	if _, err := readRequestHead(bufio.NewReader(c)); err != nil {
		return
	}
	b.mu.Lock()
	resp := b.resp
	b.mu.Unlock()
	_, _ = c.Write(resp)
}

// FuzzH2Response: whatever HTTP/1.1 response a backend writes to a HEAD or a POST with a body
// (1xx, chunked with trailers, 204/304 with a body, garbage), the client reads valid HTTP/2: frames and header blocks x/net's
// framer accepts, a :status first, no body where HTTP forbids one, DATA adding up to a
// content-length, and the stream ends (END_STREAM or RST_STREAM), the connection staying usable.
func FuzzH2Response(f *testing.F) {
	rb := &h2RespBackend{}
	be := startRawBackend(f, rb.serve)
	srv := startProxy(f, core.Config{Loops: 1, HTTP2: core.HTTP2Config{Enabled: true, H2C: true}}, quickRoute(f, be))
	addr := srv.Addr().String()
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\ncontent-length: 9\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), true)
	f.Add([]byte("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc"), false)
	f.Add([]byte("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nContent-Length: 0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"), false)
	f.Add([]byte("HTTP/1.0 999 X\r\nSet-Cookie: a\r\nSet-Cookie: b\r\nX-Empty:\r\n\r\n"), true)
	f.Add([]byte("garbage\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, resp []byte, head bool) {
		if len(resp) > 64<<10 {
			return
		}
		rb.mu.Lock()
		rb.resp = resp
		rb.mu.Unlock()
		method := "HEAD"
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		req := h2.AppendFrameHeader([]byte(h2.Preface), 0, h2.FrameSettings, 0, 0)
		if head {
			blk := h2Block(":method", method, ":scheme", "http", ":path", "/r", ":authority", "resp.test")
			req = h2.AppendFrameHeader(req, len(blk), h2.FrameHeaders, h2.FlagEndHeaders|h2.FlagEndStream, 1)
			req = append(req, blk...)
		} else {
			// A POST with its body in DATA: the response may begin before the body is consumed.
			blk := h2Block(":method", "POST", ":scheme", "http", ":path", "/r", ":authority", "resp.test", "content-length", "3")
			req = h2.AppendFrameHeader(req, len(blk), h2.FrameHeaders, h2.FlagEndHeaders, 1)
			req = append(req, blk...)
			req = h2.AppendFrameHeader(req, 3, h2.FrameData, h2.FlagEndStream, 1)
			req = append(req, "abc"...)
		}
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		checkH2Response(t, c, head)
	})
}

// checkH2Response reads the frames of stream 1 from c until it ends and checks them.
func checkH2Response(t *testing.T, c net.Conn, head bool) {
	t.Helper()
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 1 << 20
	status, final, cl, data := 0, false, int64(-1), int64(0)
	for {
		frame, err := fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				t.Fatalf("invalid response header block: %v", err)
			}
			t.Fatalf("reading the response: %v (status %d)", err, status)
		}
		if frame.Header().StreamID != 1 && frame.Header().StreamID != 0 {
			t.Fatalf("frame on stream %d", frame.Header().StreamID)
		}
		switch fr := frame.(type) {
		case *http2.SettingsFrame:
			if !fr.IsAck() {
				_ = fr.ForeachSetting(func(http2.Setting) error { return nil })
			}
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v before the stream ended (status %d)", fr.ErrCode, status)
		case *http2.RSTStreamFrame:
			return // the stream was refused: allowed for a broken backend response
		case *http2.MetaHeadersFrame:
			if final {
				// Trailers: no pseudo-header, END_STREAM.
				if len(fr.PseudoFields()) > 0 || !fr.StreamEnded() {
					t.Fatalf("trailers %v, END_STREAM %v", fr.Fields, fr.StreamEnded())
				}
				return
			}
			s := fr.PseudoValue("status")
			code, err := strconv.Atoi(s)
			if err != nil || code < 100 || code > 999 || len(fr.PseudoFields()) != 1 {
				t.Fatalf("response pseudo-headers %v", fr.PseudoFields())
			}
			for _, hf := range fr.RegularFields() {
				switch hf.Name {
				case "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection":
					t.Fatalf("connection-specific field %q in HTTP/2", hf.Name)
				case "content-length":
					if v, err := strconv.ParseInt(hf.Value, 10, 64); err == nil {
						cl = v
					}
				}
			}
			status = code
			if code >= 200 {
				final = true
			} else if fr.StreamEnded() {
				t.Fatalf("1xx %d with END_STREAM", code)
			}
			if fr.StreamEnded() {
				checkBodyLen(t, status, head, cl, data)
				return
			}
		case *http2.DataFrame:
			if !final {
				t.Fatalf("DATA before the final response head (status %d)", status)
			}
			data += int64(len(fr.Data()))
			if len(fr.Data()) > 0 && (head || status == 204 || status == 304) {
				t.Fatalf("%d bytes of body in a %d response to %s", len(fr.Data()), status, map[bool]string{true: "HEAD", false: "POST"}[head])
			}
			if fr.StreamEnded() {
				checkBodyLen(t, status, head, cl, data)
				return
			}
		}
	}
}

func checkBodyLen(t *testing.T, status int, head bool, cl, data int64) {
	t.Helper()
	if cl >= 0 && !head && status != 204 && status != 304 && data != cl {
		t.Fatalf("status %d: content-length %d, %d bytes of DATA", status, cl, data)
	}
}
