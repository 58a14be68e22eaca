package core_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/torii-gateway/torii/core"
)

// tlsH2Conn is an HTTP/2 client connection over TLS driven frame by frame.
type tlsH2Conn struct {
	c  *tls.Conn
	fr *http2.Framer
}

// dialTLSH2 connects with ALPN h2; the preface is not sent.
func dialTLSH2(t *testing.T, addr string) *tlsH2Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	return &tlsH2Conn{c: c, fr: fr}
}

// get is the header block of GET path on bench.test.
func get(path string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":path", path}, {":authority", "bench.test"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return b.Bytes()
}

// frames reads frames until the connection ends (or its deadline); it returns the streams that
// ended, the GOAWAY code seen ("" without one) and the read error that ended it.
func (h *tlsH2Conn) frames(want int) (ended map[uint32]bool, goaway string, err error) {
	ended = map[uint32]bool{}
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return ended, goaway, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = h.fr.WriteSettingsAck()
			}
		case *http2.GoAwayFrame:
			goaway = f.ErrCode.String()
		case *http2.DataFrame:
			if f.StreamEnded() {
				ended[f.StreamID] = true
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				ended[f.StreamID] = true
			}
		}
		if want > 0 && len(ended) == want {
			return ended, goaway, nil
		}
	}
}

// TestTLSLoopH2: HTTP/2 over TLS served on the loop's record layer (EnrollTLS with ALPN h2):
// many concurrent streams and an upload with Go's client; requests sent in separate records
// right behind the handshake (crypto/tls read them with its last message) all answered without
// more traffic; a close_notify or a protocol error (GOAWAY) mid-stream ending the connection;
// and every connection and stream counted back to zero.
func TestTLSLoopH2(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(500 * time.Millisecond)
		}
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%s n=%d sum=%x proto=%s", r.URL.Path, n, h.Sum(nil), r.Header.Get("X-Forwarded-Proto"))
	}))
	srv := startProxy(t, core.Config{Loops: 1, HighWater: 64 << 10, HTTP2: core.HTTP2Config{Enabled: true}}, quickRoute(t, be))
	addr := startTLSLoopALPN(t, srv, []string{"h2", "http/1.1"})
	var tr *http.Transport

	t.Run("concurrent streams", func(t *testing.T) {
		tr = &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			}}
		cl := &http.Client{Timeout: 20 * time.Second, Transport: tr}
		do := func(method, path, body string) error {
			req, _ := http.NewRequest(method, "https://bench.test"+path, strings.NewReader(body))
			resp, err := cl.Do(req)
			if err != nil {
				return err
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			want := fmt.Sprintf("%s n=%d sum=%x proto=https", path, len(body), sha256.Sum256([]byte(body)))
			if err != nil || resp.Proto != "HTTP/2.0" || string(b) != want {
				return fmt.Errorf("%s %s: %s %q %v, want %q", method, path, resp.Proto, b, err, want)
			}
			return nil
		}
		var wg sync.WaitGroup
		errs := make(chan error, 301)
		for i := range 300 { // past the 100 concurrent streams: the client opens more connections
			wg.Add(1)
			go func() { defer wg.Done(); errs <- do("GET", fmt.Sprintf("/g%d", i), "") }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs <- do("POST", "/up", strings.Repeat("0123456789abcdef", 1<<16)) }()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("records behind the handshake", func(t *testing.T) {
		h := dialTLSH2(t, addr)
		// Each write is a record of its own, sent before the server may have read the
		// handshake's last message.
		_, _ = h.c.Write([]byte(http2.ClientPreface))
		_ = h.fr.WriteSettings()
		for i := range 5 {
			_ = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: get(fmt.Sprintf("/r%d", i)), EndHeaders: true, EndStream: true})
		}
		ended, _, err := h.frames(5)
		if len(ended) != 5 {
			t.Fatalf("%d of 5 streams answered: %v", len(ended), err)
		}
	})

	t.Run("100 streams at once", func(t *testing.T) {
		h := dialTLSH2(t, addr)
		var burst bytes.Buffer
		bf := http2.NewFramer(&burst, nil)
		_, _ = burst.WriteString(http2.ClientPreface)
		_ = bf.WriteSettings()
		for i := range 100 {
			_ = bf.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: get(fmt.Sprintf("/s%d", i)), EndHeaders: true, EndStream: true})
		}
		_, _ = h.c.Write(burst.Bytes())
		ended, goaway, err := h.frames(100)
		if len(ended) != 100 || goaway != "" {
			t.Fatalf("%d of 100 streams answered, GOAWAY %q: %v", len(ended), goaway, err)
		}
	})

	t.Run("close_notify mid-stream", func(t *testing.T) {
		h := dialTLSH2(t, addr)
		_, _ = h.c.Write([]byte(http2.ClientPreface))
		_ = h.fr.WriteSettings()
		_ = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get("/slow"), EndHeaders: true, EndStream: true})
		_ = h.c.CloseWrite()
		_ = h.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		start := time.Now()
		ended, _, err := h.frames(0)
		if !errors.Is(err, io.EOF) || len(ended) != 0 {
			t.Fatalf("after close_notify: streams %v ended, then %v; want the connection closed at once", ended, err)
		}
		if d := time.Since(start); d > 400*time.Millisecond {
			t.Errorf("connection closed after %v: it waited for the stream", d)
		}
	})

	t.Run("GOAWAY", func(t *testing.T) {
		h := dialTLSH2(t, addr)
		_, _ = h.c.Write([]byte(http2.ClientPreface))
		_ = h.fr.WriteSettings()
		_ = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get("/slow"), EndHeaders: true, EndStream: true})
		h.fr.AllowIllegalWrites = true
		_ = h.fr.WriteData(0, false, []byte("x")) // DATA on stream 0: a connection error
		_, goaway, err := h.frames(0)
		if goaway != "PROTOCOL_ERROR" || !errors.Is(err, io.EOF) {
			t.Fatalf("GOAWAY %q then %v; want PROTOCOL_ERROR, then close_notify (EOF)", goaway, err)
		}
	})

	deadline := time.Now().Add(5 * time.Second)
	for (srv.Stats().Conns != 0 || srv.HTTP2Stats().Conns != 0) && time.Now().Before(deadline) {
		// Go's transport may pool a connection whose dial lost a race after the requests
		// were served: close it too.
		tr.CloseIdleConnections()
		time.Sleep(10 * time.Millisecond)
	}
	if n, st := srv.Stats().Conns, srv.HTTP2Stats(); n != 0 || st.Conns != 0 || st.Streams < 406 {
		t.Fatalf("after the clients left: %d client connections, HTTP/2 %+v; want 0, and 406 streams or more", n, st)
	}
}

// TestTLSLoopH2ConnsAndShutdown: an HTTP/2 connection over TLS on the loop counts once against
// MaxConns for its life, as its streams do while they run (a third client past MaxConns 2 is
// closed unanswered; a new one is served once one left), and a graceful shutdown sends an idle one GOAWAY NO_ERROR and closes
// it, Shutdown returning well before its grace.
func TestTLSLoopH2ConnsAndShutdown(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	srv := startProxy(t, core.Config{Loops: 1, MaxConns: 2, HTTP2: core.HTTP2Config{Enabled: true}}, quickRoute(t, be))
	addr := startTLSLoopALPN(t, srv, []string{"h2"})
	open := func() *tlsH2Conn {
		h := dialTLSH2(t, addr)
		_, _ = h.c.Write([]byte(http2.ClientPreface))
		_ = h.fr.WriteSettings()
		_ = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get("/"), EndHeaders: true, EndStream: true})
		return h
	}
	served := func(h *tlsH2Conn) bool {
		ended, goaway, err := h.frames(1)
		if !ended[1] {
			t.Logf("stream 1 not answered: GOAWAY %q, %v", goaway, err)
		}
		return ended[1]
	}
	waitConns := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for srv.Stats().Conns != want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := srv.Stats().Conns; n != want {
			t.Fatalf("%d client connections, want %d", n, want)
		}
	}
	// One after the other: a stream in flight counts as a client connection too.
	a := open()
	if !served(a) {
		t.Fatal("the first connection was not served")
	}
	b := open()
	if !served(b) {
		t.Fatal("the second connection was not served")
	}
	waitConns(2)
	c := open()
	// Closed with the client's bytes unread: EOF, or a reset.
	var ne net.Error
	if ended, _, err := c.frames(1); len(ended) != 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a third connection past MaxConns: streams %v, %v; want closed unanswered", ended, err)
	}
	_ = a.c.Close()
	waitConns(1)
	d := open()
	if !served(d) {
		t.Fatal("a connection after one left was not served")
	}
	waitConns(2)
	_ = b.c.Close()
	waitConns(1)

	shut := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	_ = d.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, goaway, err := d.frames(0); goaway != "NO_ERROR" || !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection at shutdown: GOAWAY %q, then %v; want NO_ERROR, then close_notify", goaway, err)
	}
	if err := <-shut; err != nil || time.Since(start) > 4*time.Second {
		t.Fatalf("Shutdown: %v after %v", err, time.Since(start))
	}
}
