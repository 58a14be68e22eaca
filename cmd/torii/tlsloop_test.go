package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

// tlsRelay is the --tls-relay of the TLS tests; set by bothRelays.
var tlsRelay = "poller"

// bothRelays runs f with the relay pollers (the default) and with the record layer on the
// event loops (--tls-relay loop), which must pass the same tests.
func bothRelays(t *testing.T, f func(t *testing.T)) {
	for _, r := range []string{"poller", "loop"} {
		t.Run(r, func(t *testing.T) {
			tlsRelay = r
			defer func() { tlsRelay = "poller" }()
			f(t)
		})
	}
}

// pattern is n deterministic bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// bodyBackend serves /big (8 MiB), /up (the length and SHA-256 of the request body) and /ws (a
// WebSocket echo).
func bodyBackend(t *testing.T) string {
	big := pattern(8 << 20)
	return testkit.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			_, _ = w.Write(big)
		case "/up", "/slowup":
			h := sha256.New()
			var n int64
			var err error
			if r.URL.Path == "/slowup" {
				// A backend that takes the body at ~12 MiB/s: the proxy must push back on the
				// client rather than buffer or cut it off.
				for err == nil {
					var m int64
					m, err = io.CopyN(h, r.Body, 256<<10)
					n += m
					time.Sleep(20 * time.Millisecond)
				}
				if err == io.EOF {
					err = nil
				}
			} else {
				n, err = io.Copy(h, r.Body)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "n=%d sum=%x", n, h.Sum(nil))
		case "/ws":
			hj, _ := w.(http.Hijacker)
			c, rw, err := hj.Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
				testkit.WSAccept(r.Header.Get("Sec-WebSocket-Key")))
			_ = rw.Flush()
			for {
				msg, err := testkit.WSReadFrame(rw)
				if err != nil {
					return
				}
				if err := testkit.WSWriteFrame(rw, msg, false); err != nil {
					return
				}
				_ = rw.Flush()
			}
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
}

// TestTLSBodiesAndTunnels: over TLS, with a small high-water mark so that backpressure starts
// early: an 8 MiB response read slowly, an 8 MiB upload to a backend that reads it, a 20 MiB
// upload to a slow backend (more than the proxy may buffer), a WebSocket
// echo, clients that leave mid-response, a TLS 1.3 KeyUpdate from openssl, then keep-alive
// still served. With both relays.
func TestTLSBodiesAndTunnels(t *testing.T) { bothRelays(t, testTLSBodiesAndTunnels) }

func testTLSBodiesAndTunnels(t *testing.T) {
	p := newTLSPKI(t)
	c1, k1, _ := p.issue("bodies", "bodies.test")
	backend := bodyBackend(t)
	tr := testkit.StartTorii(t, toriiBin, "proxy", "--listen", anyPort, "--listen-tls", anyPort, "--tls-relay", tlsRelay,
		"--to", "http://"+backend, "--tls-cert", c1, "--tls-key", k1, "--loops", "1", "--high-water", "65536")
	dial := func() (*tls.Conn, *bufio.Reader) {
		t.Helper()
		c, err := tls.Dial("tcp", tr.TLS, &tls.Config{ServerName: "bodies.test", RootCAs: p.roots, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		return c, bufio.NewReader(c)
	}
	c, br := dial()
	defer c.Close()

	// A big response read slowly.
	fmt.Fprintf(c, "GET /big HTTP/1.1\r\nHost: bodies.test\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the proxy's buffers fill
	h := sha256.New()
	buf := make([]byte, 32<<10)
	var got int64
	for {
		n, err := resp.Body.Read(buf)
		h.Write(buf[:n])
		got += int64(n)
		if got < 1<<20 && n > 0 {
			time.Sleep(2 * time.Millisecond)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("big response after %d bytes: %v", got, err)
		}
	}
	if want := sha256.Sum256(pattern(8 << 20)); got != 8<<20 || string(h.Sum(nil)) != string(want[:]) {
		t.Fatalf("big response: %d bytes, digest mismatch=%v", got, string(h.Sum(nil)) != string(want[:]))
	}

	// A big upload on the same connection.
	up := pattern(8<<20 + 13)
	go func() {
		fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: bodies.test\r\nContent-Length: %d\r\n\r\n", len(up))
		_, _ = c.Write(up)
	}()
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if want := fmt.Sprintf("n=%d sum=%x", len(up), sha256.Sum256(up)); string(body) != want {
		t.Fatalf("upload: %q, want %q", body, want)
	}

	// A 20 MiB upload to a slow backend: more than the proxy may buffer (16 MiB), so it only
	// passes with backpressure to the client.
	up = pattern(20 << 20)
	go func() {
		fmt.Fprintf(c, "POST /slowup HTTP/1.1\r\nHost: bodies.test\r\nContent-Length: %d\r\n\r\n", len(up))
		_, _ = c.Write(up)
	}()
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	if want := fmt.Sprintf("n=%d sum=%x", len(up), sha256.Sum256(up)); string(body) != want {
		t.Fatalf("slow upload: %q, want %q", body, want)
	}

	// Clients that leave in the middle of a big response, and one that sends close_notify.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, br := dial()
			fmt.Fprintf(c, "GET /big HTTP/1.1\r\nHost: bodies.test\r\n\r\n")
			_, _ = io.CopyN(io.Discard, br, int64(i+1)<<18)
			if i%2 == 0 {
				_ = c.CloseWrite()
			}
			_ = c.Close()
		}()
	}
	wg.Wait()

	// WebSocket over TLS.
	ws, wbr := dial()
	defer ws.Close()
	fmt.Fprintf(ws, "GET /ws HTTP/1.1\r\nHost: bodies.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err = http.ReadResponse(wbr, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("websocket upgrade: %v %v", resp, err)
	}
	for _, n := range []int{5, 300, 70000, 1 << 20} {
		msg := pattern(n)
		if err := testkit.WSWriteFrame(ws, msg, true); err != nil {
			t.Fatal(err)
		}
		echo, err := testkit.WSReadFrame(wbr)
		if err != nil || string(echo) != string(msg) {
			t.Fatalf("websocket echo of %d bytes: %d bytes, %v", n, len(echo), err)
		}
	}

	// TLS 1.3 KeyUpdate (openssl s_client's "K" command) between two requests.
	cmd := exec.Command("bash", "-c", `{ printf 'GET /a HTTP/1.1\r\nHost: bodies.test\r\n\r\n'; sleep 0.5; printf 'K\n'; sleep 0.5;
		printf 'GET /b HTTP/1.1\r\nHost: bodies.test\r\nConnection: close\r\n\r\n'; sleep 1; } |
		openssl s_client -connect `+tr.TLS+` -servername bodies.test -tls1_3 -alpn http/1.1 -CAfile `+p.dir+`/ca.pem`)
	out, err := cmd.CombinedOutput()
	if n := strings.Count(string(out), "HTTP/1.1 200"); n != 2 || !strings.Contains(string(out), "KEYUPDATE") {
		t.Fatalf("KeyUpdate: %d answers, %v: %s", n, err, out)
	}

	// The first connection still serves.
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: bodies.test\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	if string(body) != "ok" {
		t.Fatalf("keep-alive after all that: %q", body)
	}
}
