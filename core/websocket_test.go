package core_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/internal/testkit"
)

// wsEchoBackend answers the handshake, then echoes every frame.
func wsEchoBackend(t *testing.T) string {
	return startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
			_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		_, _ = fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: %s\r\n\r\n", testkit.WSAccept(req.Header.Get("Sec-WebSocket-Key")))
		for {
			p, err := testkit.WSReadFrame(br)
			if err != nil {
				return
			}
			if err := testkit.WSWriteFrame(c, p, false); err != nil {
				return
			}
		}
	})
}

func TestWebSocketEcho(t *testing.T) {
	f := func(name string, cfg core.Config, sizes ...int) {
		t.Run(name, func(t *testing.T) {
			srv := startProxy(t, cfg, testRoute("*", wsEchoBackend(t)))
			c := dial(t, srv)
			pumped := cfg.HighWater != 0
			if pumped {
				_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
			}
			br := bufio.NewReader(c)
			key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
			_, _ = fmt.Fprintf(c, "GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != testkit.WSAccept(key) ||
				!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
				t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
			}
			for _, n := range sizes {
				msg := bytes.Repeat([]byte{byte(n)}, n)
				errc := make(chan error, 1)
				go func() { errc <- testkit.WSWriteFrame(c, msg, true) }()
				if pumped && n > 1<<20 {
					// Read nothing until the echo the client does not read has
					// filled the proxy's outbound buffer past the high-water mark
					// and moved the tunnel to a pump: the trigger, whatever the
					// machine's speed (a fixed sleep was not enough under load).
					testkit.Eventually(t, "the tunnel moves to a pump", func() error {
						if srv.Stats().Pumped == 0 {
							return fmt.Errorf("not pumped yet")
						}
						return nil
					})
				}
				got, err := testkit.WSReadFrame(br)
				if err != nil {
					t.Fatalf("%d-byte message: %v", n, err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("%d-byte message echoed as %d bytes", n, len(got))
				}
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			if got := srv.Stats().Pumped; pumped != (got > 0) {
				t.Errorf("pumped exchanges: %d", got)
			}
		})
	}
	f("on the loop", core.Config{}, 5, 200, 70000)
	// A high-water mark of 16 KiB moves the tunnel to a pump.
	f("pumped", core.Config{HighWater: 16 << 10}, 5, 4<<20, 300)
}
