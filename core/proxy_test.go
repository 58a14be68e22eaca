package core_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
)

func TestForwardHeaders(t *testing.T) {
	seen := make(chan *http.Request, 1)
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		w.Header().Set("X-Backend", "yes")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Connection", "X-Secret-Out")
		w.Header().Set("X-Secret-Out", "hidden")
		_, _ = io.WriteString(w, "hello")
	}))
	srv := startProxy(t, core.Config{}, testRoute("api.test", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	resp, body := roundTrip(t, c, br, "GET /a/b?x=1 HTTP/1.1\r\nHost: api.test\r\nConnection: X-Secret\r\n"+
		"X-Secret: no\r\nKeep-Alive: 300\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n"+
		"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Custom: kept\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Backend") != "yes" || resp.Header.Get("Keep-Alive") != "" || resp.Header.Get("X-Secret-Out") != "" {
		t.Errorf("response headers not filtered: %v", resp.Header)
	}
	r := <-seen
	if r.Host != "api.test" || r.URL.RequestURI() != "/a/b?x=1" {
		t.Errorf("backend saw host %q uri %q", r.Host, r.URL.RequestURI())
	}
	for _, h := range []string{"X-Secret", "Keep-Alive", "Te", "Proxy-Connection"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("hop-by-hop %s forwarded: %q", h, v)
		}
	}
	if got := r.Header.Get("X-Custom"); got != "kept" {
		t.Errorf("X-Custom = %q", got)
	}
	if got := r.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the untrusted value replaced", got)
	}
	if got := r.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q", got)
	}
	if got := r.Header.Get("X-Forwarded-Host"); got != "api.test" {
		t.Errorf("X-Forwarded-Host = %q", got)
	}
}

func TestTrustForwarded(t *testing.T) {
	seen := make(chan *http.Request, 1)
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r }))
	srv := startProxy(t, core.Config{TrustForwarded: true}, testRoute("*", be))
	c := dial(t, srv)
	resp, _ := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n"+
		"X-Forwarded-Proto: https\r\nX-Forwarded-Host: front.example\r\n\r\n", "GET")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := <-seen
	if got := r.Header.Get("X-Forwarded-For"); got != "6.6.6.6, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if got := r.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto = %q", got)
	}
	if got := r.Header.Get("X-Forwarded-Host"); got != "front.example" {
		t.Errorf("X-Forwarded-Host = %q", got)
	}
}

func TestOverrideHostAndPathRewrite(t *testing.T) {
	seen := make(chan *http.Request, 1)
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r }))
	rt := testRoute("api.test/users", be)
	rt.Frontend.StripPath = true
	rt.Backend.Root = "/v2"
	rt.Plugins = route.Plugins{{Enabled: true, Plugin: "cp:otoroshi.next.plugins.OverrideHost"}}
	srv := startProxy(t, core.Config{}, rt)
	c := dial(t, srv)
	resp, _ := roundTrip(t, c, bufio.NewReader(c), "GET /users/42?q=1 HTTP/1.1\r\nHost: api.test\r\n\r\n", "GET")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := <-seen
	if r.Host != be {
		t.Errorf("Host = %q, want the target %q", r.Host, be)
	}
	if r.URL.RequestURI() != "/v2/42?q=1" {
		t.Errorf("uri = %q", r.URL.RequestURI())
	}
}

func TestBodies(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-TE", strings.Join(r.TransferEncoding, ","))
		w.Header().Set("X-CL", fmt.Sprint(r.ContentLength))
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // forces a chunked response
		}
		_, _ = w.Write(b)
	}))
	srv := startProxy(t, core.Config{}, testRoute("*", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)

	resp, body := roundTrip(t, c, br, "POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", "POST")
	if body != "hello world" || resp.Header.Get("X-CL") != "11" || resp.ContentLength != 11 {
		t.Errorf("length body: %q cl=%s resp cl=%d", body, resp.Header.Get("X-CL"), resp.ContentLength)
	}
	resp, body = roundTrip(t, c, br, "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", "POST")
	if body != "hello world" || resp.Header.Get("X-TE") != "chunked" {
		t.Errorf("chunked body: %q te=%q", body, resp.Header.Get("X-TE"))
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("response not chunked: %v", resp.TransferEncoding)
	}
	// A big body crossing many reads.
	big := strings.Repeat("0123456789abcdef", 64<<10)
	resp, body = roundTrip(t, c, br, fmt.Sprintf("PUT /len HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(big), big), "PUT")
	if resp.StatusCode != 200 || body != big {
		t.Errorf("big body: status %d, %d bytes", resp.StatusCode, len(body))
	}
}

// A backend that frames its response by closing: HTTP/1.1 clients get it
// re-chunked on a kept-alive connection, HTTP/1.0 clients raw then a close.
func TestUntilCloseResponse(t *testing.T) {
	be := startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readRequestHead(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstreamed until close")
	})
	srv := startProxy(t, core.Config{}, testRoute("*", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	for range 2 {
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
		if body != "streamed until close" || len(resp.TransferEncoding) == 0 || resp.Close {
			t.Fatalf("1.1: body %q te %v close %v", body, resp.TransferEncoding, resp.Close)
		}
	}
	c10 := dial(t, srv)
	if _, err := io.WriteString(c10, "GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(c10)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(all), "\r\n\r\nstreamed until close") || strings.Contains(string(all), "chunked") {
		t.Errorf("1.0 response: %q", all)
	}
}

func TestChunkedToHTTP10(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "part1-")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "part2")
	}))
	srv := startProxy(t, core.Config{}, testRoute("*", be))
	c := dial(t, srv)
	_, _ = io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(all)
	if !strings.HasSuffix(s, "\r\n\r\npart1-part2") || strings.Contains(strings.ToLower(s), "transfer-encoding") ||
		!strings.Contains(s, "Connection: close") {
		t.Errorf("response: %q", s)
	}
}

func TestPipelining(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%s:%s", r.URL.Path, b)
	}))
	srv := startProxy(t, core.Config{}, testRoute("*", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"+
		"HEAD /three HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /four HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []struct{ method, body string }{{"GET", "/one:"}, {"POST", "/two:abc"}, {"HEAD", ""}, {"GET", "/four:"}} {
		resp, body := readResponse(t, br, want.method)
		if resp.StatusCode != 200 || body != want.body {
			t.Fatalf("%s: got %d %q, want %q", want.method, resp.StatusCode, body, want.body)
		}
	}
}

func TestHTTP10(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ten")
	}))
	srv := startProxy(t, core.Config{}, testRoute("*", be))

	// Without keep-alive: one response, then the proxy closes.
	c := dial(t, srv)
	_, _ = io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	all, _ := io.ReadAll(c)
	if !strings.HasSuffix(string(all), "ten") || !strings.Contains(string(all), "Connection: close") {
		t.Errorf("1.0 close: %q", all)
	}
	// With keep-alive: two exchanges on one connection.
	c = dial(t, srv)
	br := bufio.NewReader(c)
	for range 2 {
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET")
		if body != "ten" || resp.Header.Get("Connection") != "keep-alive" {
			t.Fatalf("1.0 keep-alive: %q %v", body, resp.Header)
		}
	}
}

func TestExpectContinue(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // net/http sends 100 Continue on this read
		_, _ = w.Write(b)
	}))
	srv := startProxy(t, core.Config{}, testRoute("*", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue first, got %q %v", line, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	_, _ = io.WriteString(c, "body")
	resp, body := readResponse(t, br, "POST")
	if resp.StatusCode != 200 || body != "body" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

func TestInterimResponses(t *testing.T) {
	be := startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readRequestHead(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	srv := startProxy(t, core.Config{}, testRoute("*", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := readResponse(t, br, "GET")
	if resp.StatusCode != 103 || resp.Header.Get("Link") == "" {
		t.Fatalf("want the 103 relayed, got %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := readResponse(t, br, "GET")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestHeadResponse(t *testing.T) {
	be := startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := readRequestHead(br)
			if err != nil {
				return
			}
			if req.Method == "HEAD" {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
			} else {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nget")
			}
		}
	})
	srv := startProxy(t, core.Config{}, testRoute("*", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	resp, body := roundTrip(t, c, br, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD")
	if resp.ContentLength != 1000 || body != "" {
		t.Fatalf("HEAD: cl %d body %q", resp.ContentLength, body)
	}
	// The connection is still in sync: the next response is the GET's.
	_, body = roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if body != "get" {
		t.Fatalf("GET after HEAD: %q", body)
	}
}

func TestPoolReuseAndRoundRobin(t *testing.T) {
	var conns1, conns2 atomic.Int32
	track := func(n *atomic.Int32, name string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, name) }),
			ConnState: func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					n.Add(1)
				}
			},
		}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		return ln.Addr().String()
	}
	a, b := track(&conns1, "a"), track(&conns2, "b")
	srv := startProxy(t, core.Config{Loops: 1}, testRoute("*", a, b))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	got := map[string]int{}
	for range 20 {
		_, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
		got[body]++
	}
	if got["a"] != 10 || got["b"] != 10 {
		t.Errorf("round-robin split: %v", got)
	}
	if conns1.Load() != 1 || conns2.Load() != 1 {
		t.Errorf("backend connections: %d and %d, want 1 each (pooled)", conns1.Load(), conns2.Load())
	}
}

// A pooled connection the backend closes when our request arrives is retried
// once on a fresh connection.
func TestPoolRetryOnStaleConnection(t *testing.T) {
	var accepted atomic.Int32
	be := startRawBackend(t, func(c net.Conn) {
		accepted.Add(1)
		br := bufio.NewReader(c)
		if _, err := readRequestHead(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		// Keep-alive announced, but the next request finds the connection closed.
		_, _ = readRequestHead(br)
	})
	srv := startProxy(t, core.Config{Loops: 1}, testRoute("*", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	for i := range 3 {
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := accepted.Load(); n < 3 {
		t.Errorf("backend accepted %d connections, want a fresh one per retry", n)
	}
}

func TestConnectRefusedByDefault(t *testing.T) {
	srv := startProxy(t, core.Config{}, testRoute("*", "127.0.0.1:1"))
	c := dial(t, srv)
	resp, _ := roundTrip(t, c, bufio.NewReader(c), "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "CONNECT")
	if resp.StatusCode != 405 || resp.Header.Get("Otoroshi-Error-Cause") != "errors.connect.not.allowed" {
		t.Errorf("CONNECT: %d %v", resp.StatusCode, resp.Header)
	}
}

// With AllowConnect, CONNECT goes to the routed target, and a 2xx answer
// turns the connection into a tunnel.
func TestConnectAllowed(t *testing.T) {
	be := startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := readRequestHead(br)
		if err != nil || req.Method != "CONNECT" {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n")
		_, _ = io.Copy(c, br)
	})
	srv := startProxy(t, core.Config{AllowConnect: true}, testRoute("*", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "CONNECT upstream.test:443 HTTP/1.1\r\nHost: upstream.test:443\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	for _, msg := range []string{"ping", "pong and more"} {
		_, _ = io.WriteString(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("tunnel echoed %q %v", got, err)
		}
	}
}

// A net/http client with keep-alive, many goroutines, bodies both ways.
func TestNetHTTPClientConcurrent(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	srv := startProxy(t, core.Config{}, testRoute("*", be, be))
	hc := client(srv)
	errc := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				var resp *http.Response
				var err error
				want := fmt.Sprintf("GET /g%d/%d ", g, i)
				if i%2 == 0 {
					resp, err = hc.Get(fmt.Sprintf("http://any.test/g%d/%d", g, i))
				} else {
					body := strings.Repeat("z", i*100)
					want = fmt.Sprintf("POST /g%d/%d %s", g, i, body)
					resp, err = hc.Post(fmt.Sprintf("http://any.test/g%d/%d", g, i), "text/plain", strings.NewReader(body))
				}
				if err != nil {
					errc <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if err != nil || string(b) != want {
					errc <- fmt.Errorf("got %q (%v), want %q", b, err, want)
					return
				}
			}
			errc <- nil
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestReusePort(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "rp") }))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	srv := startProxy(t, core.Config{Listen: addr, ReusePort: true, Loops: 2}, testRoute("*", be))
	if srv.Addr().String() != addr {
		t.Fatalf("listening on %s, want %s", srv.Addr(), addr)
	}
	for range 4 {
		c := dial(t, srv)
		if _, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"); body != "rp" {
			t.Fatalf("body %q", body)
		}
	}
	if _, err := core.NewServer(core.Config{Listen: "127.0.0.1:0", ReusePort: true}); err == nil {
		t.Error("reuse-port on port 0 accepted")
	}
}

// The pool keeps at most PoolIdleLimit idle connections per target and loop,
// and closes them after PoolIdleTimeout.
func TestPoolIdleLimitAndTimeout(t *testing.T) {
	var opened, closed atomic.Int32
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
			_, _ = io.WriteString(w, "ok")
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				opened.Add(1)
			case http.StateClosed:
				closed.Add(1)
			}
		},
	}
	go func() { _ = bs.Serve(ln) }()
	t.Cleanup(func() { _ = bs.Close() })
	srv := startProxy(t, core.Config{Loops: 1, PoolIdleLimit: 1, PoolIdleTimeout: 300 * time.Millisecond},
		testRoute("*", ln.Addr().String()))

	// Three exchanges in flight at once need three backend connections.
	done := make(chan string, 3)
	for range 3 {
		c := dial(t, srv)
		go func() {
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				done <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			done <- string(b)
		}()
	}
	for opened.Load() < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	for range 3 {
		if got := <-done; got != "ok" {
			t.Fatalf("exchange: %q", got)
		}
	}
	// Two of them are over the idle limit and closed at once...
	waitFor(t, func() bool { return closed.Load() >= 2 }, "2 connections closed past the idle limit")
	// ...the last one after the idle timeout.
	waitFor(t, func() bool { return closed.Load() == 3 }, "the idle connection closed after the idle timeout")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that pushes far ahead of its exchange is cut off rather than
// buffered without bound.
func TestClientTooFarAhead(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	}))
	srv := startProxy(t, core.Config{HighWater: 16 << 10}, testRoute("*", be))
	c := dial(t, srv)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	junk := []byte(strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1<<20/29))
	go func() {
		for range 48 {
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
	}()
	br := bufio.NewReader(c)
	for i := 0; ; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("connection ended after %d responses without a 503: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 503 {
			if !strings.Contains(string(body), "errors.overloaded") || !resp.Close {
				t.Errorf("got %q close=%v", body, resp.Close)
			}
			return
		}
		if i > 10 {
			t.Fatalf("%d responses and no cut-off", i)
		}
	}
}

// Publish swaps the routes for the next request, on open connections too.
func TestPublishSwapsRoutes(t *testing.T) {
	a := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "a") }))
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "b") }))
	srv := startProxy(t, core.Config{}, testRoute("*", a))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	if _, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"); body != "a" {
		t.Fatalf("before: %q", body)
	}
	table, err := route.Compile([]route.Route{testRoute("*", b)}, route.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(&core.Snapshot{Routes: table, Version: 2})
	if _, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"); body != "b" {
		t.Fatalf("after: %q", body)
	}
	if srv.Snapshot().Version != 2 {
		t.Errorf("snapshot version %d", srv.Snapshot().Version)
	}
	srv.Publish(&core.Snapshot{Version: 3}) // no routes at all: 404
	resp, _ := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if resp.StatusCode != 404 {
		t.Errorf("without routes: %d", resp.StatusCode)
	}
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	f := func(cfg core.Config, want error) {
		t.Helper()
		_, err := core.NewServer(cfg)
		if err == nil || (want != nil && !errors.Is(err, want)) {
			t.Errorf("%+v: got %v, want %v", cfg, err, want)
		}
	}
	f(core.Config{}, core.ErrNoListen)
	f(core.Config{Listen: "127.0.0.1:0", ReusePort: true}, core.ErrReusePortNeedsPort)
	f(core.Config{Listen: "no-port"}, nil)
	if _, err := core.QuickRoute(nil); !errors.Is(err, core.ErrNoTarget) {
		t.Errorf("QuickRoute without targets: %v", err)
	}
	for _, bad := range []string{"https://x:1", "x:1", "http://x:0", "http://:80"} {
		if _, err := core.QuickRoute([]string{bad}); !errors.Is(err, core.ErrNoTarget) {
			t.Errorf("QuickRoute(%q): %v", bad, err)
		}
	}
}
