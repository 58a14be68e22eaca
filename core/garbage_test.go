package core_test

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// Random mixes of valid and broken HTTP from clients and from the backend
// must never break the proxy: every case ends, and a normal request still
// works afterwards with no connection left behind.
func TestGarbageDoesNotBreakTheProxy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	clientParts := []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\nabc\r\n", "0\r\n\r\n", "zz\r\n",
		"GET / HTTP/1.0\r\n\r\n", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n", "GET /\x00 HTTP/1.1\r\n",
		"Host: x\r\nHost: y\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
		"Content-Length: -1\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
		"CONNECT x:1 HTTP/1.1\r\nHost: x:1\r\n\r\n", strings.Repeat("A", 3000),
	}
	backendParts := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"2\r\nok\r\n", "0\r\n\r\n", "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "garbage\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nuntil close", "HTTP/1.1 999 What\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"x\r\n", "\xff\xfe",
	}
	pick := func(parts []string, n int) string {
		var b strings.Builder
		for range 1 + rng.IntN(n) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		return b.String()
	}
	const cases = 150
	replies := make(chan string, cases)
	for range cases {
		replies <- pick(backendParts, 4)
	}
	be := startRawBackend(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		var reply string
		select {
		case reply = <-replies:
		default:
			reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
		}
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err != nil {
			return
		}
		_, _ = io.WriteString(c, reply)
		if rng := len(reply) % 3; rng == 0 {
			_, _ = io.Copy(io.Discard, c)
		}
	})
	rt := testRoute("*", be)
	rt.Backend.Client.CallAndStreamTimeout = 1500
	rt.Backend.Client.CallTimeout = 1000
	rt.Backend.Client.IdleTimeout = 1000
	good := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	srv := startProxy(t, core.Config{HeaderTimeout: time.Second, IdleTimeout: time.Second, AllowConnect: true},
		rt, testRoute("ok.test", good))

	for range cases {
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = io.WriteString(c, pick(clientParts, 5))
		if rng.IntN(2) == 0 {
			_ = c.(*net.TCPConn).CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
		_ = c.Close()
	}

	c := dial(t, srv)
	resp, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: ok.test\r\n\r\n", "GET")
	if resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("after the garbage: %d %q", resp.StatusCode, body)
	}
	_ = c.Close()
	waitFor(t, func() bool { return srv.Stats().Conns == 0 }, "every client connection closed")
}
