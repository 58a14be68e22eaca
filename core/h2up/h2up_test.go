package h2up_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/h2up"
)

// h2cBackend serves h over h2c with prior knowledge on loopback.
func h2cBackend(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &p}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestBridge: HTTP/1.1 requests written on the engine end of a bridge reach an h2c backend as
// HTTP/2 streams, one after the other on the same socketpair: chunked request bodies with
// trailers, streamed responses with trailers, a trailers-only gRPC status moved to trailers,
// a Content-Length response, HEAD; the response head comes while the request body is still open.
func TestBridge(t *testing.T) {
	addr := h2cBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/duplex":
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			b := make([]byte, 64)
			n, _ := r.Body.Read(b)
			_, _ = w.Write(b[:n])
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set(http.TrailerPrefix+"X-In-Trailer", r.Trailer.Get("X-Req-Trailer"))
		case "/grpc-error":
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "5")
			w.Header().Set("Grpc-Message", "gone")
			w.WriteHeader(200)
		default:
			w.Header().Set("Content-Length", "6")
			_, _ = io.WriteString(w, r.Proto[:6])
		}
	}))
	c, err := h2up.Dial(context.Background(), addr, nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	readResp := func(method string) (*http.Response, string) {
		t.Helper()
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	// Full duplex: the head and the first bytes come back before the request body ends.
	fmt.Fprintf(c, "POST /duplex HTTP/1.1\r\nHost: b\r\nTrailer: X-Req-Trailer\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("head before the end of the request: %q %v", line, err)
	}
	fmt.Fprintf(c, "0\r\nX-Req-Trailer: rt\r\n\r\n")
	rest, _ := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(line), br)), nil)
	b, _ := io.ReadAll(rest.Body)
	if string(b) != "hello" || rest.Trailer.Get("X-In-Trailer") != "rt" {
		t.Fatalf("duplex: body %q trailers %v", b, rest.Trailer)
	}
	// The same socketpair serves the next requests.
	fmt.Fprintf(c, "GET /grpc-error HTTP/1.1\r\nHost: b\r\n\r\n")
	resp, body := readResp("GET")
	if resp.Header.Get("Grpc-Status") != "" || resp.Trailer.Get("Grpc-Status") != "5" || resp.Trailer.Get("Grpc-Message") != "gone" || body != "" {
		t.Fatalf("trailers-only: header %v trailer %v body %q", resp.Header, resp.Trailer, body)
	}
	fmt.Fprintf(c, "GET /plain HTTP/1.1\r\nHost: b\r\n\r\n")
	if resp, body = readResp("GET"); resp.ContentLength != 6 || body != "HTTP/2" {
		t.Fatalf("plain: %d %q", resp.ContentLength, body)
	}
	fmt.Fprintf(c, "HEAD /plain HTTP/1.1\r\nHost: b\r\n\r\n")
	if resp, body = readResp("HEAD"); resp.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
}

// TestDialDown: a backend that is down is a dial error, not a socketpair.
func TestDialDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	_ = ln.Close()
	if c, err := h2up.Dial(context.Background(), addr, nil, time.Second); err == nil {
		_ = c.Close()
		t.Fatal("dial to a closed port succeeded")
	}
}

// BenchmarkBridge: sequential small POSTs through the bridge against the same POSTs with Go's
// HTTP/2 client straight to the backend (the bridge's own cost; compare ns/op).
func BenchmarkBridge(b *testing.B) {
	addr := h2cBackend(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	b.Run("direct", func(b *testing.B) {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		cl := &http.Client{Transport: &http.Transport{Protocols: &p}}
		for b.Loop() {
			resp, err := cl.Post("http://"+addr+"/", "application/grpc", strings.NewReader("0123456789"))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	})
	b.Run("bridge", func(b *testing.B) {
		c, err := h2up.Dial(context.Background(), addr, nil, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req := []byte("POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n")
		for b.Loop() {
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
		}
	})
}
