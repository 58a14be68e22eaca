package core_test

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/internal/sockpair"
	"github.com/torii-gateway/torii/pki"
)

// startTLSLoop accepts TLS connections on a loopback port, does each handshake on a goroutine
// and hands the connection to srv with EnrollTLS (what tlsedge's relay "loop" does). It
// returns the address.
func startTLSLoop(t testing.TB, srv *core.Server) string { return startTLSLoopALPN(t, srv, nil) }

// startTLSLoopALPN is startTLSLoop offering protos by ALPN; the negotiated one reaches the
// engine (h2: its HTTP/2 server on the loop's record layer).
func startTLSLoopALPN(t testing.TB, srv *core.Server, protos []string) string {
	t.Helper()
	addr, _ := startTLSLoopLinks(t, srv, protos)
	return addr
}

// startTLSLoopLinks is startTLSLoopALPN that also counts the connections handed to srv that it
// has not yet said are over (EnrollTLS's done).
func startTLSLoopLinks(t testing.TB, srv *core.Server, protos []string) (string, *atomic.Int64) {
	t.Helper()
	live := new(atomic.Int64)
	m, err := pki.Mint(pki.MintOptions{CommonName: "bench.test", Hosts: []string{"bench.test"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(m.ChainPEM), []byte(m.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: protos}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				rec := sockpair.Wrap(nc)
				tc := tls.Server(rec, cfg)
				if err := tc.Handshake(); err != nil {
					_ = nc.Close()
					return
				}
				info := &core.ClientInfo{TLS: true, ServerName: "bench.test", TLSVersion: "TLSv1.3", ALPN: tc.ConnectionState().NegotiatedProtocol}
				live.Add(1) // before: done may run on the loop before EnrollTLS returns
				if err := srv.EnrollTLS(nc, tc, rec, info, func() { live.Add(-1) }); err != nil {
					live.Add(-1) // done is not called
				}
			}()
		}
	}()
	return ln.Addr().String(), live
}

// TestTLSLoopExchanges: keep-alive GETs, a pipelined pair, a body both ways and client closes
// over TLS served on the loop (also under -race: the record layer runs on the loop goroutine only).
func TestTLSLoopExchanges(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%s n=%d sum=%x proto=%s", r.URL.Path, n, h.Sum(nil), r.Header.Get("X-Forwarded-Proto"))
	}))
	srv := startProxy(t, core.Config{Loops: 1, HighWater: 64 << 10}, quickRoute(t, be))
	addr := startTLSLoop(t, srv)
	for range 3 {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		read := func(want string) {
			t.Helper()
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if !strings.HasPrefix(string(b), want) || !strings.HasSuffix(string(b), "proto=https") {
				t.Fatalf("got %d %q, want prefix %q and https", resp.StatusCode, b, want)
			}
		}
		for i := range 20 {
			fmt.Fprintf(c, "GET /g%d HTTP/1.1\r\nHost: bench.test\r\n\r\n", i)
			read(fmt.Sprintf("/g%d n=0", i))
		}
		fmt.Fprintf(c, "GET /p1 HTTP/1.1\r\nHost: bench.test\r\n\r\nGET /p2 HTTP/1.1\r\nHost: bench.test\r\n\r\n")
		read("/p1 n=0")
		read("/p2 n=0")
		body := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
		go fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: bench.test\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		read(fmt.Sprintf("/up n=%d sum=%x", len(body), sha256.Sum256([]byte(body))))
		// close_notify right behind a request: the response comes, then the connection ends
		// (close_notify back, no waiting for the idle timeout).
		fmt.Fprintf(c, "GET /last HTTP/1.1\r\nHost: bench.test\r\n\r\n")
		_ = c.CloseWrite()
		read("/last n=0")
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if n, err := br.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after close_notify and the last response: %d bytes, %v; want EOF", n, err)
		}
		_ = c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Conns != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.Stats().Conns; n != 0 {
		t.Fatalf("%d client connections still open after the clients left", n)
	}
}
