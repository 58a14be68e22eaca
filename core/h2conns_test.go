package core_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/proxyproto"
)

// holdBackend answers every request once release is closed: "ok" in full,
// or, for /cut, a head announcing 10 bytes, 2 of them, then a close (the
// engine must reset the stream). arrived receives each request's path.
type holdBackend struct {
	addr    string
	arrived chan string
	release chan struct{}
}

func startHoldBackend(t *testing.T) *holdBackend {
	t.Helper()
	b := &holdBackend{arrived: make(chan string, 256), release: make(chan struct{})}
	b.addr = startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b.arrived <- req.URL.Path
			<-b.release
			if req.URL.Path == "/cut" {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok")
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	t.Cleanup(func() {
		select {
		case <-b.release:
		default:
			close(b.release)
		}
	})
	return b
}

// wait waits for n requests at the backend (a stuck engine fails the test
// after 10 s).
func (b *holdBackend) wait(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-b.arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d requests at the backend", i, n)
		}
	}
}

// h2Peer is a client connection driven frame by frame (h2c, TLS or an
// enrolled socketpair).
type h2Peer struct {
	c  net.Conn
	fr *http2.Framer
}

func newH2Peer(c net.Conn) *h2Peer {
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	return &h2Peer{c: c, fr: fr}
}

// open sends the preface, SETTINGS and one GET per path on streams 1, 3...
func (p *h2Peer) open(t *testing.T, paths ...string) {
	t.Helper()
	if err := p.send(paths...); err != nil {
		t.Fatal(err)
	}
}

func (p *h2Peer) send(paths ...string) error {
	if _, err := p.c.Write([]byte(http2.ClientPreface)); err != nil {
		return err
	}
	if err := p.fr.WriteSettings(); err != nil {
		return err
	}
	for i, path := range paths {
		if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: get(path), EndHeaders: true, EndStream: true}); err != nil {
			return err
		}
	}
	return nil
}

// outcome is how the streams of a connection ended, as read by the client.
type outcome struct {
	ok, reset map[uint32]bool // ended with END_STREAM, with RST_STREAM
	goaway    string          // the GOAWAY code seen, "" without one
}

// read reads frames until n streams have ended (ok or reset), or, with n 0,
// until the connection ends; it returns the error that stopped it (nil
// once n ended).
func (p *h2Peer) read(n int) (outcome, error) {
	o := outcome{ok: map[uint32]bool{}, reset: map[uint32]bool{}}
	for n == 0 || len(o.ok)+len(o.reset) < n {
		f, err := p.fr.ReadFrame()
		if err != nil {
			return o, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = p.fr.WriteSettingsAck()
			}
		case *http2.GoAwayFrame:
			o.goaway = f.ErrCode.String()
		case *http2.RSTStreamFrame:
			o.reset[f.StreamID] = true
		case *http2.DataFrame:
			if f.StreamEnded() {
				o.ok[f.StreamID] = true
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				o.ok[f.StreamID] = true
			}
		}
	}
	return o, nil
}

// goAway reads frames until a GOAWAY, which must say NO_ERROR (a graceful
// shutdown's).
func (p *h2Peer) goAway(t *testing.T) {
	t.Helper()
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeNo {
				t.Fatalf("GOAWAY %v, want NO_ERROR", g.ErrCode)
			}
			return
		}
	}
}

// h2Dialers open an HTTP/2 connection to srv over each way one reaches the
// engine's own server: h2c with prior knowledge, TLS on the loop's record
// layer, and an enrolled socketpair whose PROXY header says ALPN h2 (the
// poller TLS relay). Each returns a dial function; the connection it
// returns is closed at the end of the test.
var h2Dialers = map[string]func(t *testing.T, srv *core.Server) func() net.Conn{
	"h2c": func(t *testing.T, srv *core.Server) func() net.Conn {
		return func() net.Conn {
			c, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
	},
	"tls-loop": func(t *testing.T, srv *core.Server) func() net.Conn {
		addr := startTLSLoopALPN(t, srv, []string{"h2"})
		return func() net.Conn {
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
	},
	"poller-relay": func(t *testing.T, srv *core.Server) func() net.Conn {
		return func() net.Conn {
			engine, ours := socketpair(t)
			t.Cleanup(func() { _ = ours.Close() })
			in := proxyproto.Info{Src: netip.MustParseAddrPort("203.0.113.9:4711"), Dst: netip.MustParseAddrPort("127.0.0.1:8443"), SSL: true, ALPN: "h2"}
			if _, err := ours.Write(proxyproto.Append(nil, &in)); err != nil {
				t.Fatal(err)
			}
			_ = srv.Enroll(engine, nil) // refused in OnOpen past MaxConns: seen by the client
			return ours
		}
	},
}

// clientGauge reads torii_client_connections_active from set.
func clientGauge(t *testing.T, set *metric.Set) int64 {
	t.Helper()
	var b bytes.Buffer
	set.WritePrometheus(&b)
	for line := range strings.Lines(b.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), metric.FamClientConnections+" "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", metric.FamClientConnections, line)
			}
			return n
		}
	}
	t.Fatalf("/metrics lacks %s", metric.FamClientConnections)
	return 0
}

// countsSettle waits until the engine counts conns client connections and
// open streams HTTP/2 streams, and the gauge says conns too; the counts must
// never be negative meanwhile.
func countsSettle(t *testing.T, srv *core.Server, set *metric.Set, conns, streams int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, s := srv.Stats().Conns, srv.HTTP2Stats().OpenStreams
		if c < 0 || s < 0 {
			t.Fatalf("negative counts: %d client connections, %d open streams", c, s)
		}
		if c == conns && s == streams && clientGauge(t, set) == conns {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d client connections (gauge %d), %d open streams; want %d and %d",
				c, clientGauge(t, set), s, conns, streams)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// refused reports whether the engine closed c without serving HTTP/2 on
// it: nothing, or the HTTP/1.1 503 page of a connection refused in OnOpen,
// then the end of the connection (not a read timeout).
func refused(t *testing.T, c net.Conn) {
	t.Helper()
	_ = newH2Peer(c).send("/third") // it may be closed already
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a connection past MaxConns is still open (read %q)", b)
	}
	if len(b) > 0 && !bytes.HasPrefix(b, []byte("HTTP/1.1 503 ")) {
		t.Fatalf("a connection past MaxConns was answered %q; want nothing, or a 503 page", b[:min(len(b), 40)])
	}
}

// TestH2StreamsAreNotConnections: an HTTP/2 connection counts once against
// MaxConns, in Stats.Conns and in the client-connections gauge, however many
// of its streams are in flight, over h2c, TLS on the loop and the poller
// relay. With MaxConns 2, two connections holding 4 streams each at a held
// backend are both served and a third is refused; streams that end in every
// way (answered, reset by the client, reset by the engine when the backend
// cuts a response, cut by the connection's close) leave the counts at the
// number of connections, then at 0, never below.
func TestH2StreamsAreNotConnections(t *testing.T) {
	for name, dialer := range h2Dialers {
		t.Run(name, func(t *testing.T) {
			be := startHoldBackend(t)
			set := metric.NewSet(1)
			srv := startProxy(t, core.Config{Loops: 1, MaxConns: 2, Metrics: set, HTTP2: core.HTTP2Config{Enabled: true, H2C: true}}, quickRoute(t, be.addr))
			dial := dialer(t, srv)

			a, b := newH2Peer(dial()), newH2Peer(dial())
			a.open(t, "/a1", "/a2", "/cut", "/a4")  // streams 1, 3, 5, 7
			b.open(t, "/b1", "/b2", "/b3", "/gone") // b closes with its streams in flight
			be.wait(t, 8)
			countsSettle(t, srv, set, 2, 8)

			refused(t, dial())
			countsSettle(t, srv, set, 2, 8)

			// A client reset (a's stream 7), then b leaves with its 4 streams
			// in flight.
			if err := a.fr.WriteRSTStream(7, http2.ErrCodeCancel); err != nil {
				t.Fatal(err)
			}
			countsSettle(t, srv, set, 2, 7)
			_ = b.c.Close()
			countsSettle(t, srv, set, 1, 3)

			// The backend answers: a's streams 1 and 3 end, 5 is reset by the
			// engine (the backend cut its response).
			close(be.release)
			o, err := a.read(3)
			if err != nil || !o.ok[1] || !o.ok[3] || !o.reset[5] {
				t.Fatalf("streams of a: ended %v, reset %v, GOAWAY %q, %v; want 1 and 3 ended, 5 reset", o.ok, o.reset, o.goaway, err)
			}
			countsSettle(t, srv, set, 1, 0)

			// A connection served now that one left.
			c := newH2Peer(dial())
			c.open(t, "/c1", "/c2")
			if o, err := c.read(2); err != nil || len(o.ok) != 2 {
				t.Fatalf("a new connection once one left: ended %v, reset %v, %v", o.ok, o.reset, err)
			}
			countsSettle(t, srv, set, 2, 0)
			_ = a.c.Close()
			_ = c.c.Close()
			countsSettle(t, srv, set, 0, 0)
			if n := srv.HTTP2Stats().Conns; n != 0 {
				t.Fatalf("%d HTTP/2 connections open after the clients left", n)
			}
		})
	}
}

// threeHeldStreams starts an engine (one loop, h2c on) in front of a backend that holds every
// request, and opens three streams on one HTTP/2 connection dialled with dialer; it returns
// once the backend holds all three and the counts (and set's gauges) say 1 connection and 3
// open streams.
func threeHeldStreams(t *testing.T, dialer func(t *testing.T, srv *core.Server) func() net.Conn) (*holdBackend, *core.Server, *metric.Set, *h2Peer) {
	t.Helper()
	be := startHoldBackend(t)
	set := metric.NewSet(1)
	srv := startProxy(t, core.Config{Loops: 1, Metrics: set, HTTP2: core.HTTP2Config{Enabled: true, H2C: true}}, quickRoute(t, be.addr))
	p := newH2Peer(dialer(t, srv)())
	p.open(t, "/s1", "/s2", "/s3")
	be.wait(t, 3)
	countsSettle(t, srv, set, 1, 3)
	return be, srv, set, p
}

// TestH2ShutdownWaitsForStreams: streams do not count as connections, yet a
// graceful Shutdown still waits for those in flight: their connection gets
// GOAWAY NO_ERROR at once and stays counted (so Shutdown waits) until its
// streams are answered, then closes, and Shutdown returns nil.
func TestH2ShutdownWaitsForStreams(t *testing.T) {
	for name, dialer := range h2Dialers {
		t.Run(name, func(t *testing.T) {
			be, srv, _, p := threeHeldStreams(t, dialer)

			shut := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				shut <- srv.Shutdown(ctx)
			}()
			// GOAWAY comes with the drain; the streams are still held.
			p.goAway(t)
			select {
			case err := <-shut:
				t.Fatalf("Shutdown returned (%v) with 3 streams in flight", err)
			default:
			}
			if n := srv.Stats().Conns; n != 1 {
				t.Fatalf("%d client connections while draining, want 1", n)
			}
			close(be.release)
			o, err := p.read(0)
			if len(o.ok) != 3 || len(o.reset) != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("draining: ended %v, reset %v, then %v; want 3 ended, then the connection closed", o.ok, o.reset, err)
			}
			if err := <-shut; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if n, s := srv.Stats().Conns, srv.HTTP2Stats().OpenStreams; n != 0 || s != 0 {
				t.Fatalf("after Shutdown: %d client connections, %d open streams", n, s)
			}
		})
	}
}

// TestH2ShutdownPastGrace: when the grace is over with streams still in
// flight, the engine stops and closes their connection; the streams end
// unanswered and every count is back to 0.
func TestH2ShutdownPastGrace(t *testing.T) {
	for name, dialer := range h2Dialers {
		t.Run(name, func(t *testing.T) {
			_, srv, set, p := threeHeldStreams(t, dialer)

			ctx, cancel := context.WithCancel(context.Background())
			shut := make(chan error, 1)
			go func() { shut <- srv.Shutdown(ctx) }()
			p.goAway(t)
			cancel() // the grace is over
			if err := <-shut; err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if o, err := p.read(0); len(o.ok) != 0 || err == nil {
				t.Fatalf("streams %v answered, then %v; want the connection closed with none", o.ok, err)
			}
			countsSettle(t, srv, set, 0, 0)
		})
	}
}
