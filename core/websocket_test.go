package core_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// A minimal WebSocket (RFC 6455) handshake and frame codec, enough to echo
// binary messages through the proxy.

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

func wsWriteFrame(w io.Writer, payload []byte, mask bool) error {
	hdr := []byte{0x82}
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, m|byte(n))
	case n < 1<<16:
		hdr = append(hdr, m|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, m|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	body := payload
	if mask {
		key := []byte{1, 2, 3, 4}
		hdr = append(hdr, key...)
		body = make([]byte, len(payload))
		for i, b := range payload {
			body[i] = b ^ key[i%4]
		}
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

func wsReadFrame(r io.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return nil, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	if masked {
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return p, nil
}

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
			"Sec-WebSocket-Accept: %s\r\n\r\n", wsAccept(req.Header.Get("Sec-WebSocket-Key")))
		for {
			p, err := wsReadFrame(br)
			if err != nil {
				return
			}
			if err := wsWriteFrame(c, p, false); err != nil {
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
			if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) ||
				!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
				t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
			}
			for _, n := range sizes {
				msg := bytes.Repeat([]byte{byte(n)}, n)
				errc := make(chan error, 1)
				go func() { errc <- wsWriteFrame(c, msg, true) }()
				if pumped && n > 1<<20 {
					time.Sleep(300 * time.Millisecond) // fall behind the backend's echo
				}
				got, err := wsReadFrame(br)
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
