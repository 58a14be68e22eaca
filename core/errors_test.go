package core_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// checkError asserts an Otoroshi-style error response.
func checkError(t *testing.T, resp *http.Response, body string, status int, cause string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, status, body)
	}
	if resp.Header.Get("Otoroshi-Error") != "true" || resp.Header.Get("Otoroshi-Error-Cause") != cause ||
		resp.Header.Get("Otoroshi-Error-Msg") == "" {
		t.Errorf("error headers: %v", resp.Header)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != cause || e.Description == "" {
		t.Errorf("error body %q (%v)", body, err)
	}
}

func TestErrorNoRoute(t *testing.T) {
	srv := startProxy(t, core.Config{}, testRoute("known.test", "127.0.0.1:1"))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: unknown.test\r\n\r\n", "GET")
	checkError(t, resp, body, 404, "errors.service.not.found")
	// Still usable, and HTML for browsers.
	resp, body = roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: unknown.test\r\nAccept: text/html,*/*\r\n\r\n", "GET")
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "<html>") || resp.Header.Get("Otoroshi-Error-Cause") != "errors.service.not.found" {
		t.Errorf("HTML error: %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

func TestErrorBackendRefused(t *testing.T) {
	dead := deadAddr(t)
	srv := startProxy(t, core.Config{}, testRoute("*", dead))
	c := dial(t, srv)
	resp, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	checkError(t, resp, body, 502, "errors.bad.gateway")
}

func TestErrorMalformedResponse(t *testing.T) {
	be := startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readRequestHead(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 2xx Nope\r\n\r\n")
	})
	srv := startProxy(t, core.Config{}, testRoute("*", be))
	c := dial(t, srv)
	resp, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	checkError(t, resp, body, 502, "errors.bad.gateway")
}

func TestErrorBackendClosesWithoutResponse(t *testing.T) {
	be := startRawBackend(t, func(c net.Conn) {
		_, _ = readRequestHead(bufio.NewReader(c))
	})
	srv := startProxy(t, core.Config{}, testRoute("*", be))
	c := dial(t, srv)
	resp, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	checkError(t, resp, body, 502, "errors.bad.gateway")
}

func TestErrorOverload(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv := startProxy(t, core.Config{MaxConns: 1, Loops: 1}, testRoute("*", be))
	first := dial(t, srv)
	br := bufio.NewReader(first)
	if resp, _ := roundTrip(t, first, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"); resp.StatusCode != 200 {
		t.Fatalf("first connection: %d", resp.StatusCode)
	}
	second := dial(t, srv)
	_, _ = io.WriteString(second, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := readResponse(t, bufio.NewReader(second), "GET")
	checkError(t, resp, body, 503, "errors.overloaded")
}

// Parse errors get their status and the connection closes.
func TestErrorMalformedRequests(t *testing.T) {
	srv := startProxy(t, core.Config{}, testRoute("*", "127.0.0.1:1"))
	f := func(raw string, status int, cause string) {
		t.Helper()
		c := dial(t, srv)
		_, _ = io.WriteString(c, raw)
		br := bufio.NewReader(c)
		resp, body := readResponse(t, br, "GET")
		checkError(t, resp, body, status, cause)
		if !resp.Close {
			t.Errorf("%d: connection not marked close", status)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%d: connection still open after a parse error (%v)", status, err)
		}
	}
	f("GET / HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n", 400, "errors.bad.request")
	f("GET /"+strings.Repeat("a", 9000)+" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "errors.uri.too.long")
	f("GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", 40000)+"\r\n\r\n", 431, "errors.headers.too.large")
	f("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "errors.not.implemented")
	f("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "errors.http.version.not.supported")
	f("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "errors.bad.request")
}

func TestErrorHeaderTimeout(t *testing.T) {
	srv := startProxy(t, core.Config{HeaderTimeout: 300 * time.Millisecond}, testRoute("*", "127.0.0.1:1"))
	c := dial(t, srv)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	start := time.Now()
	resp, body := readResponse(t, bufio.NewReader(c), "GET")
	checkError(t, resp, body, 408, "errors.client.timeout")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("slowloris connection held for %v", d)
	}
}

func TestIdleClientClosed(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv := startProxy(t, core.Config{IdleTimeout: 300 * time.Millisecond}, testRoute("*", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	if resp, _ := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle connection not closed: %v", err)
	}
}

func TestErrorBackendResponseTimeout(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	rt := testRoute("*", be)
	rt.Backend.Client.CallTimeout = 300
	srv := startProxy(t, core.Config{}, rt)
	c := dial(t, srv)
	resp, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	checkError(t, resp, body, 504, "errors.request.timeout")
}

// A backend that stops in the middle of its body: the idle timeout cuts the
// exchange; the head was already sent, so the client sees a truncated body.
func TestBackendIdleTimeoutMidBody(t *testing.T) {
	be := startRawBackend(t, func(c net.Conn) {
		if _, err := readRequestHead(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
		time.Sleep(5 * time.Second)
	})
	rt := testRoute("*", be)
	rt.Backend.Client.IdleTimeout = 300
	srv := startProxy(t, core.Config{}, rt)
	c := dial(t, srv)
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, err := io.ReadAll(resp.Body)
	if err == nil || string(b) != "partial" {
		t.Errorf("want a truncated body, got %q %v", b, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle backend held the exchange for %v", d)
	}
}

// A backend that trickles its body forever hits the total call timeout.
func TestCallTimeout(t *testing.T) {
	be := startRawBackend(t, func(c net.Conn) {
		if _, err := readRequestHead(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
		for range 100 {
			if _, err := io.WriteString(c, "x"); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	rt := testRoute("*", be)
	rt.Backend.Client.CallAndStreamTimeout = 500
	srv := startProxy(t, core.Config{}, rt)
	c := dial(t, srv)
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, err := io.ReadAll(resp.Body)
	if err == nil || len(b) >= 1000 {
		t.Errorf("want the call cut, got %d bytes, %v", len(b), err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("call lasted %v", d)
	}
}
