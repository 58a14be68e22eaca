package core_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core"
)

// upgradeHappyBackend switches to whatever protocol a request's Upgrade names (as an h2c
// server would); without Upgrade it answers 200 with the request's Connection, Upgrade,
// HTTP2-Settings and X-Opt fields as the body. On /evil it answers 101 Upgrade: h2c to
// anything.
func upgradeHappyBackend(t *testing.T) string {
	return startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			up := req.Header.Values("Upgrade")
			switch {
			case req.URL.Path == "/evil":
				_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
				return
			case len(up) > 0:
				_, _ = fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\nswitched:%s",
					strings.Join(up, ","), strings.Join(up, ","))
				return
			}
			body := fmt.Sprintf("connection=%q upgrade=%q http2-settings=%q x-opt=%q",
				req.Header.Values("Connection"), up, req.Header.Values("HTTP2-Settings"), req.Header.Values("X-Opt"))
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})
}

// TestUpgradeSmuggling: only a websocket offer reaches the backend as an upgrade, and as
// "Upgrade: websocket" alone; every other token (h2c with its HTTP2-Settings, unknown ones,
// lists, an Upgrade that Connection does not name, any case) is dropped with the fields its
// Connection names, so an upgrade-happy backend answers a plain 200.
func TestUpgradeSmuggling(t *testing.T) {
	srv := startProxy(t, core.Config{}, testRoute("*", upgradeHappyBackend(t)))
	const settings = "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
	const plain = `connection=[] upgrade=[] http2-settings=[] x-opt=[]`
	f := func(name, fields string, wantStatus int, wantBody string) {
		t.Helper()
		c := dial(t, srv)
		defer c.Close()
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: up.test\r\n"+fields+"\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		var body []byte
		if resp.StatusCode == 101 {
			body, _ = io.ReadAll(br) // the tunnel: the backend's bytes until it closes
		} else {
			body, _ = io.ReadAll(resp.Body)
		}
		if resp.StatusCode != wantStatus || string(body) != wantBody {
			t.Errorf("%s: %d %q, want %d %q", name, resp.StatusCode, body, wantStatus, wantBody)
		}
	}
	// h2c, with and without HTTP2-Settings named in Connection, with and without Upgrade named.
	f("h2c, HTTP2-Settings in Connection", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"+settings, 200, plain)
	f("h2c, HTTP2-Settings not in Connection", "Connection: Upgrade\r\nUpgrade: h2c\r\n"+settings, 200, plain)
	f("h2c, no Connection", "Upgrade: h2c\r\n"+settings, 200, plain)
	f("h2c, Connection without upgrade", "Connection: keep-alive\r\nUpgrade: h2c\r\n"+settings, 200, plain)
	f("HTTP2-Settings alone", settings, 200, plain)
	f("h2c, mixed case", "cOnNeCtIoN: UPGRADE, http2-SETTINGS\r\nuPgRaDe: H2C\r\nhttp2-settings: AAMAAABk\r\n", 200, plain)
	// Unknown tokens, several tokens, several fields, the Connection options going with them.
	f("unknown token", "Connection: Upgrade\r\nUpgrade: foo/2\r\n", 200, plain)
	f("several tokens", "Connection: Upgrade\r\nUpgrade: h2c, foo, TLS/1.2\r\n", 200, plain)
	f("several fields", "Connection: Upgrade\r\nUpgrade: foo\r\nUpgrade: h2c\r\n", 200, plain)
	f("Connection option with it", "Connection: Upgrade, X-Opt\r\nX-Opt: 1\r\nUpgrade: foo\r\n", 200, plain)
	f("websocket with a version", "Connection: Upgrade\r\nUpgrade: websocket/13\r\n", 200, plain)
	f("websocket not named by Connection", "Upgrade: websocket\r\n", 200, plain)
	// websocket among the tokens, in any case: tunnelled, and the backend sees websocket only.
	f("websocket", "Connection: Upgrade\r\nUpgrade: websocket\r\n", 101, "switched:websocket")
	f("WebSocket, mixed case", "Connection: upGRADE\r\nUpgrade: WebSocket\r\n", 101, "switched:websocket")
	f("h2c and websocket", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c, websocket\r\n"+settings, 101, "switched:websocket")
}

// TestUpgradeResponseMustMatch: a backend that answers 101 with another protocol than the
// websocket offered (or 101 to no offer) gets the client a 502, not a tunnel.
func TestUpgradeResponseMustMatch(t *testing.T) {
	srv := startProxy(t, core.Config{}, testRoute("*", upgradeHappyBackend(t)))
	f := func(fields string) {
		t.Helper()
		c := dial(t, srv)
		defer c.Close()
		_, _ = io.WriteString(c, "GET /evil HTTP/1.1\r\nHost: up.test\r\n"+fields+"\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 502 {
			t.Errorf("%q: %v %v, want 502", fields, resp, err)
		}
	}
	f("Connection: Upgrade\r\nUpgrade: websocket\r\n")
	f("")
}
