package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/torii-gateway/torii/internal/testkit"
)

// TestHTTP2MaxConnsBinary: with --max-conns 2 and h2c, two HTTP/2 connections holding 3 streams
// each at a backend that has not answered yet are both served, a third is refused, and the
// admin /metrics says 2 client connections and 6 open HTTP/2 streams meanwhile, then 0 and 0
// once the clients have their answers and left.
func TestHTTP2MaxConnsBinary(t *testing.T) {
	arrived, release := make(chan struct{}, 16), make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					arrived <- struct{}{}
					<-release
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
						return
					}
				}
			}()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	routes := fmt.Sprintf(`[{"id": "route_h2", "name": "h2", "enabled": true, "frontend": {"domains": ["h2.test"]},
		"backend": {"targets": [{"id": "t1", "hostname": %q, "port": %s}], "root": "/"}}]`, host, port)
	cfg := filepath.Join(t.TempDir(), "routes.json")
	if err := os.WriteFile(cfg, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testkit.StartTorii(t, toriiBin, "serve", "--listen", anyPort, "--admin", anyPort, "--echo", "off",
		"--data-dir", t.TempDir(), "--config", cfg, "--loops", "1", "--h2c", "--max-conns", "2")
	g := &gateway{Torii: p, t: t}
	if m := keyRe.FindStringSubmatch(p.Out.String()); m != nil {
		g.id, g.secret = m[1], m[2]
	}
	gauge := func(body []byte, name string) int {
		m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("/metrics lacks %s: %.3000s", name, body)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	counts := func(conns, streams int) {
		t.Helper()
		testkit.Eventually(t, fmt.Sprintf("%d client connections, %d open HTTP/2 streams", conns, streams), func() error {
			b := g.mustAPI(http.StatusOK, "GET", "/metrics", nil)
			if c, s := gauge(b, "torii_client_connections_active"), gauge(b, "torii_http2_streams"); c != conns || s != streams {
				return fmt.Errorf("%d client connections, %d open HTTP/2 streams", c, s)
			}
			return nil
		})
	}

	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "h2.test"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	open := func(streams int) (net.Conn, *http2.Framer) {
		c, err := net.Dial("tcp", p.Proxy)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		fr := http2.NewFramer(c, c)
		_, _ = c.Write([]byte(http2.ClientPreface))
		_ = fr.WriteSettings()
		for i := range streams {
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block.Bytes(), EndHeaders: true, EndStream: true})
		}
		return c, fr
	}
	a, afr := open(3)
	b, bfr := open(3)
	for i := range 6 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 6 requests at the backend", i)
		}
	}
	counts(2, 6)
	third, _ := open(1)
	if got, err := io.ReadAll(third); len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 503 ")) {
		t.Fatalf("a third connection past --max-conns 2: %q, %v; want closed unanswered", got, err)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a third connection past --max-conns 2 is still open")
	}
	counts(2, 6)
	free()
	for _, fr := range []*http2.Framer{afr, bfr} {
		ended := 0
		for ended < 3 {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("%d of 3 streams answered: %v", ended, err)
			}
			if d, ok := f.(*http2.DataFrame); ok && d.StreamEnded() {
				ended++
			}
		}
	}
	counts(2, 0)
	_ = a.Close()
	_ = b.Close()
	counts(0, 0)
}
