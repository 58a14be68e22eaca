package core_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/h2"
)

// A backend connection held off the loop (h2hold.go) in the callback where
// the client turns out to be gone: the response comes in one read, more DATA
// than the stream's window takes and HighWater past it, so the callback holds
// the backend's socket, then writes the frames (too many to wait for the
// waker) to a client that has reset its connection; the failed write ends the
// stream, which drops the held backend. The backend connection is retired
// once (it was twice, then two later exchanges shared it: TestH2FuzzSoakTLS
// with a 64 KiB response hit a nil socket in attach). Over h2c and over TLS
// on the loop's record layer.
func TestH2HeldBackendClientGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"h2c", false}, {"tls", true}} {
		t.Run(tc.name, func(t *testing.T) {
			got, open, wrote := make(chan struct{}, 4), make(chan struct{}), make(chan struct{}, 4)
			body := strings.Repeat("x", 64<<10)
			be := startRawBackend(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					got <- struct{}{}
					resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
					if req.URL.Path == "/big" {
						<-open
						resp = "HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n" + body
					}
					if _, err := c.Write([]byte(resp)); err != nil {
						return
					}
					wrote <- struct{}{}
				}
			})
			cfg := core.Config{Loops: 1, HighWater: 4 << 10, HTTP2: core.HTTP2Config{Enabled: true, H2C: !tc.tls}}
			srv := startProxy(t, cfg, quickRoute(t, be))
			addr := srv.Addr().String()
			if tc.tls {
				addr = startTLSLoopALPN(t, srv, []string{"h2"})
			}
			dial := func() (net.Conn, *net.TCPConn) {
				t.Helper()
				raw, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				_ = raw.SetDeadline(time.Now().Add(20 * time.Second))
				if !tc.tls {
					return raw, raw.(*net.TCPConn)
				}
				c := tls.Client(raw, &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
				if err := c.Handshake(); err != nil {
					t.Fatal(err)
				}
				return c, raw.(*net.TCPConn)
			}

			c, raw := dial()
			// SETTINGS_INITIAL_WINDOW_SIZE 32 KiB: the response's first 32 KiB of DATA are
			// more than a write may defer to the waker (h2WaitMax), the rest waits in the stream.
			o := append([]byte(h2.Preface), h2.AppendFrameHeader(nil, 6, h2.FrameSettings, 0, 0)...)
			o = append(o, 0, byte(h2.SettingInitialWindowSize), 0, 0, 0x80, 0)
			blk := getBlock("/big")
			o = h2.AppendFrameHeader(o, len(blk), h2.FrameHeaders, h2.FlagEndHeaders|h2.FlagEndStream, 1)
			if _, err := c.Write(append(o, blk...)); err != nil {
				t.Fatal(err)
			}
			<-got
			// The loop sees, in one batch, the response and then the client's reset.
			release := srv.StallLoopsForTest()
			close(open)
			<-wrote
			_ = raw.SetLinger(0)
			_ = raw.Close()
			release()
			for deadline := time.Now().Add(10 * time.Second); srv.Stats().Conns != 0; {
				if time.Now().After(deadline) {
					t.Fatalf("%d client connections open, want 0", srv.Stats().Conns)
				}
				time.Sleep(time.Millisecond)
			}
			if n := srv.UpstreamsFreedTwiceForTest(); n != 0 {
				t.Fatalf("%d backend connections retired twice", n)
			}
			// The engine still serves two streams at once, each on its own backend connection.
			c2, _ := dial()
			defer c2.Close()
			cl := &rawH2{c: c2}
			cl.start(t, "/a", "/b")
			if ids := cl.ends(t, 2); len(ids) != 2 {
				t.Fatalf("streams %v ended, want 2", ids)
			}
		})
	}
}
