package core_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/h2"
	"github.com/torii-gateway/torii/proxyproto"
)

// gateBackend answers each request when the test says so: /held when held
// is closed, any other path when open is closed. got receives the path of
// each request as it arrives, wrote each path once its response is written.
type gateBackend struct {
	addr       string
	got, wrote chan string
	open, held chan struct{}
}

func startGateBackend(t *testing.T) *gateBackend {
	g := &gateBackend{got: make(chan string, 64), wrote: make(chan string, 64), open: make(chan struct{}), held: make(chan struct{})}
	g.addr = startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			g.got <- req.URL.Path
			gate := g.open
			if req.URL.Path == "/held" {
				gate = g.held
			}
			<-gate
			if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")); err != nil {
				return
			}
			g.wrote <- req.URL.Path
		}
	})
	t.Cleanup(func() {
		select {
		case <-g.held:
		default:
			close(g.held)
		}
	})
	return g
}

// recv waits for n values from ch (a test of a stuck engine fails after 10 s).
func recv(t *testing.T, ch chan string, n int, what string) {
	t.Helper()
	for i := range n {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: %d of %d", what, i, n)
		}
	}
}

// rawH2 is a client that writes and reads HTTP/2 frames on c.
type rawH2 struct {
	c       net.Conn
	buf     []byte
	started bool // the preface was sent
}

// getBlock is the header block of GET path on bench.test (no HPACK state).
func getBlock(path string) []byte {
	b := []byte{0x82, 0x86, 0x04, byte(len(path))} // :method GET, :scheme http, :path literal
	b = append(b, path...)
	return append(b, append([]byte{0x01, 10}, "bench.test"...)...)
}

// start sends the preface and SETTINGS (the first time) and one GET per
// path, streams 1, 3, ...
func (r *rawH2) start(t *testing.T, paths ...string) {
	t.Helper()
	var o []byte
	if !r.started {
		r.started = true
		o = append([]byte(h2.Preface), h2.AppendFrameHeader(nil, 0, h2.FrameSettings, 0, 0)...)
	}
	for i, p := range paths {
		blk := getBlock(p)
		o = h2.AppendFrameHeader(o, len(blk), h2.FrameHeaders, h2.FlagEndHeaders|h2.FlagEndStream, uint32(2*i+1))
		o = append(o, blk...)
	}
	_ = r.c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := r.c.Write(o); err != nil {
		t.Fatal(err)
	}
}

// ends reads frames until n streams have ended and returns their ids; a
// reset, a GOAWAY or a body other than "ok" fails the test.
func (r *rawH2) ends(t *testing.T, n int) []uint32 {
	t.Helper()
	var ids []uint32
	tmp := make([]byte, 16<<10)
	for len(ids) < n {
		for len(r.buf) >= h2.FrameHeaderLen && len(ids) < n {
			fh := h2.ParseFrameHeader(r.buf)
			size := h2.FrameHeaderLen + int(fh.Length)
			if len(r.buf) < size {
				break
			}
			p := r.buf[h2.FrameHeaderLen:size]
			switch fh.Type {
			case h2.FrameRSTStream, h2.FrameGoAway:
				t.Fatalf("stream %d: frame type %d, code %d", fh.StreamID, fh.Type, binary.BigEndian.Uint32(p[len(p)-4:]))
			case h2.FrameData:
				if len(p) > 0 && !bytes.Equal(p, []byte("ok")) {
					t.Fatalf("stream %d: DATA %q", fh.StreamID, p)
				}
			}
			if fh.Flags&h2.FlagEndStream != 0 && (fh.Type == h2.FrameData || fh.Type == h2.FrameHeaders) {
				ids = append(ids, fh.StreamID)
			}
			r.buf = r.buf[size:]
		}
		if len(ids) == n {
			break
		}
		m, err := r.c.Read(tmp)
		if err != nil {
			t.Fatalf("reading after %d of %d streams: %v", len(ids), n, err)
		}
		r.buf = append(r.buf, tmp[:m]...)
	}
	return ids
}

// Responses to streams of one HTTP/2 connection that come back in the same
// batch of events leave in one write: at the end of the backend callback
// that answers the last stream waiting, or, while another stream still
// waits, when the loop's waker runs after the batch (h2waker.go). The test
// stalls the loop while the backend answers, so that the responses are in
// one batch; without batching each is its own write (and TLS record). Over
// h2c, over TLS on the loop's record layer, and over an enrolled socketpair
// with a PROXY header saying ALPN h2 (the TLS terminator's socketpair relay).
func TestH2ResponsesCoalesced(t *testing.T) {
	const n = 8
	dials := map[string]func(t *testing.T, srv *core.Server) net.Conn{
		"h2c": func(t *testing.T, srv *core.Server) net.Conn {
			c, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		"tls": func(t *testing.T, srv *core.Server) net.Conn {
			c, err := tls.Dial("tcp", startTLSLoopALPN(t, srv, []string{"h2"}), &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		"enrolled": func(t *testing.T, srv *core.Server) net.Conn {
			engine, ours := socketpair(t)
			in := proxyproto.Info{Src: netip.MustParseAddrPort("203.0.113.9:4711"), Dst: netip.MustParseAddrPort("127.0.0.1:8443"), SSL: true, ALPN: "h2"}
			if _, err := ours.Write(proxyproto.Append(nil, &in)); err != nil {
				t.Fatal(err)
			}
			if err := srv.Enroll(engine, nil); err != nil {
				t.Fatal(err)
			}
			return ours
		},
	}
	for name, dial := range dials {
		for _, held := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "/last-answered", true: "/one-held"}[held], func(t *testing.T) {
				g := startGateBackend(t)
				srv := startProxy(t, core.Config{Loops: 1, HTTP2: core.HTTP2Config{Enabled: true, H2C: true}}, quickRoute(t, g.addr))
				if writes := batchOfResponses(t, srv, g, &rawH2{c: dial(t, srv)}, n, held, true); writes > 2 {
					t.Errorf("%d responses of one batch took %d writes, want 1 (2 at most)", n, writes)
				}
			})
		}
	}
	// Without a waker (its socket failed) each response is written at the
	// end of its backend's callback, as before.
	t.Run("no-waker", func(t *testing.T) {
		g := startGateBackend(t)
		srv := startProxy(t, core.Config{Loops: 1, HTTP2: core.HTTP2Config{Enabled: true, H2C: true}}, quickRoute(t, g.addr))
		cl := &rawH2{c: dials["h2c"](t, srv)}
		cl.start(t) // the loop's first HTTP/2 connection creates its waker
		waitWakers(t, srv)
		srv.CloseWakersForTest()
		if srv.WakersReadyForTest() {
			t.Fatal("the waker is still registered after its close")
		}
		if writes := batchOfResponses(t, srv, g, cl, n, true, false); writes != n {
			t.Errorf("%d responses took %d writes without a waker, want %d", n, writes, n)
		}
	})
}

// waitWakers waits until the loop's HTTP/2 waker is registered (a stuck
// registration fails the test after 10 s).
func waitWakers(t *testing.T, srv *core.Server) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !srv.WakersReadyForTest(); {
		if time.Now().After(deadline) {
			t.Fatal("the loop's HTTP/2 waker is not registered")
		}
		time.Sleep(time.Millisecond)
	}
}

// batchOfResponses sends n GETs on client connection cl (and a first one to
// /held when held), has the backend answer the n while the loop is stalled,
// so that they come in one batch of events, reads them and returns how many
// writes the engine made meanwhile. With held, the held stream is answered
// last and must end last.
func batchOfResponses(t *testing.T, srv *core.Server, g *gateBackend, cl *rawH2, n int, held, waker bool) uint64 {
	t.Helper()
	paths := make([]string, 0, n+1)
	if held {
		paths = append(paths, "/held") // stream 1
	}
	for range n {
		paths = append(paths, "/n")
	}
	cl.start(t, paths...)
	recv(t, g.got, len(paths), "requests at the backend")
	if waker {
		waitWakers(t, srv)
	}
	w0 := srv.HTTP2Stats().Writes
	release := srv.StallLoopsForTest()
	close(g.open)
	recv(t, g.wrote, n, "responses written by the backend")
	release()
	ids := cl.ends(t, n)
	writes := srv.HTTP2Stats().Writes - w0
	t.Logf("%d responses in %d writes", n, writes)
	for _, id := range ids {
		if held && id == 1 {
			t.Fatal("the held stream ended before its backend answered")
		}
	}
	if held {
		close(g.held)
		if ids := cl.ends(t, 1); ids[0] != 1 {
			t.Fatalf("stream %d ended, want 1", ids[0])
		}
	}
	return writes
}

// A client that leaves while the responses of its streams wait for the
// waker: the loop sees the responses and the end of the connection in one
// batch, in either order; nothing is written to the closed connection and
// the engine goes on serving.
func TestH2ClientGoneWhileDeferred(t *testing.T) {
	const n = 8
	g := startGateBackend(t)
	srv := startProxy(t, core.Config{Loops: 1, HTTP2: core.HTTP2Config{Enabled: true, H2C: true}}, quickRoute(t, g.addr))
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl := &rawH2{c: c}
	paths := []string{"/held"}
	for range n {
		paths = append(paths, "/n")
	}
	cl.start(t, paths...)
	recv(t, g.got, len(paths), "requests at the backend")
	waitWakers(t, srv)
	release := srv.StallLoopsForTest()
	close(g.open)
	recv(t, g.wrote, n, "responses written by the backend")
	_ = c.Close()
	release()
	close(g.held)

	// The engine still serves: a new connection gets its answer.
	c2, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	cl2 := &rawH2{c: c2}
	cl2.start(t, "/n")
	if ids := cl2.ends(t, 1); ids[0] != 1 {
		t.Fatalf("stream %d ended, want 1", ids[0])
	}
	for deadline := time.Now().Add(10 * time.Second); srv.HTTP2Stats().Conns != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("%d HTTP/2 connections open, want 1 (the closed one is gone)", srv.HTTP2Stats().Conns)
		}
		time.Sleep(time.Millisecond)
	}
}
