package core_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// gzipBody is n bytes of compressible, not trivially repetitive text.
func gzipBody(n int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	words := []string{"torii ", "gateway ", "otoroshi ", "gzip ", "stream ", "chunk ", "loop ", "pump\n"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func gunzip(t *testing.T, body string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("bad gzip stream: %v", err)
	}
	return string(out)
}

// TestGzipResponseCompressor runs GzipResponseCompressor end to end: every
// request of a case goes on one keep-alive connection, so each compressed
// response must end exactly where the next begins.
func TestGzipResponseCompressor(t *testing.T) {
	big := gzipBody(4 << 20)
	release := make(chan struct{})
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/text":
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("ETag", `"v1"`)
			h.Set("Content-Length", strconv.Itoa(n))
			_, _ = w.Write(gzipBody(n))
		case "/json-chunked":
			h.Set("Content-Type", "application/json")
			for i := range 50 {
				fmt.Fprintf(w, `{"i":%d,"pad":"%s"}`+"\n", i, strings.Repeat("x", 100))
				w.(http.Flusher).Flush()
			}
		case "/png":
			h.Set("Content-Type", "image/png")
			_, _ = w.Write(gzipBody(5000))
		case "/encoded":
			h.Set("Content-Type", "text/plain")
			h.Set("Content-Encoding", "br")
			_, _ = w.Write([]byte("already-encoded-bytes"))
		case "/204":
			w.WriteHeader(204)
		case "/304":
			h.Set("Content-Type", "text/plain")
			w.WriteHeader(304)
		case "/big":
			h.Set("Content-Type", "text/plain")
			h.Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = w.Write(big)
		case "/big-chunked":
			h.Set("Content-Type", "text/plain")
			for off := 0; off < len(big); off += 100_000 {
				_, _ = w.Write(big[off:min(off+100_000, len(big))])
			}
		case "/slow":
			h.Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-time.After(5 * time.Second):
				// The client never saw the first event: it was held back.
				_, _ = io.WriteString(w, "data: held-back\n\n")
				return
			}
			_, _ = io.WriteString(w, "data: second\n\n")
		}
	}))
	srv := startProxy(t, core.Config{})
	publishRoutes(t, srv, nil, 2, withPlugins(testRoute("gz.test", be), "GzipResponseCompressor",
		`{"allowed_list":["text/*","application/json"],"excluded_patterns":["/text\\?n=7.*"],"min_length":100,"compression_level":6}`))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	get := func(method, path, ae string) (*http.Response, string) {
		t.Helper()
		req := method + " " + path + " HTTP/1.1\r\nHost: gz.test\r\n"
		if ae != "" {
			req += "Accept-Encoding: " + ae + "\r\n"
		}
		return roundTrip(t, c, br, req+"\r\n", method)
	}
	compressed := func(resp *http.Response) bool {
		return resp.Header.Get("Content-Encoding") == "gzip"
	}
	want := string(gzipBody(5000))
	for _, tc := range []struct {
		ae   string
		gzip bool
	}{
		{"gzip", true}, {"", false}, {"identity", false}, {"gzip;q=0", false}, {"*", true},
		{"br, gzip;q=0.5", true}, {"*;q=0, br", false}, {"br;q=1, *;q=0.1", true}, {"GZIP;Q=1.0", true},
		{"x-gzip", true}, {"gzip;q=0.000, *", false}, {"deflate", false},
	} {
		resp, body := get("GET", "/text?n=5000", tc.ae)
		if compressed(resp) != tc.gzip {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want gzip %v", tc.ae, resp.Header.Get("Content-Encoding"), tc.gzip)
			continue
		}
		if tc.gzip {
			if got := gunzip(t, body); got != want {
				t.Fatalf("Accept-Encoding %q: decompressed %d bytes, want the original %d", tc.ae, len(got), len(want))
			}
			if resp.ContentLength != -1 || resp.TransferEncoding[0] != "chunked" || resp.Header.Get("Vary") != "Accept-Encoding" ||
				resp.Header.Get("ETag") != `W/"v1"` || len(body) >= len(want)/2 {
				t.Errorf("compressed head: CL %d TE %v Vary %q ETag %q, %d bytes", resp.ContentLength, resp.TransferEncoding,
					resp.Header.Get("Vary"), resp.Header.Get("ETag"), len(body))
			}
		} else if body != want || resp.ContentLength != 5000 || resp.Header.Get("ETag") != `"v1"` {
			t.Errorf("Accept-Encoding %q: plain body %d bytes, CL %d", tc.ae, len(body), resp.ContentLength)
		}
	}
	for _, tc := range []struct {
		method, path string
		gzip         bool
	}{
		{"GET", "/json-chunked", true},
		{"GET", "/png", false},       // not in allowed_list
		{"GET", "/encoded", false},   // already encoded
		{"GET", "/text?n=99", false}, // under min_length
		{"GET", "/text?n=7000", false},
		{"HEAD", "/text?n=5000", false},
		{"GET", "/204", false},
		{"GET", "/304", false},
	} {
		resp, body := get(tc.method, tc.path, "gzip, br")
		if compressed(resp) != tc.gzip {
			t.Errorf("%s %s: Content-Encoding %q, want gzip %v", tc.method, tc.path, resp.Header.Get("Content-Encoding"), tc.gzip)
		}
		switch {
		case tc.path == "/json-chunked":
			if got := gunzip(t, body); strings.Count(got, "\n") != 50 || !strings.HasPrefix(got, `{"i":0,`) {
				t.Errorf("json-chunked: decompressed %q", got)
			}
		case tc.path == "/encoded" && (body != "already-encoded-bytes" || resp.Header.Get("Content-Encoding") != "br"):
			t.Errorf("encoded: %q %q", resp.Header.Get("Content-Encoding"), body)
		case tc.method == "HEAD" && resp.ContentLength != 5000:
			t.Errorf("HEAD: Content-Length %d", resp.ContentLength)
		}
	}
	for _, path := range []string{"/big", "/big-chunked"} {
		resp, body := get("GET", path, "gzip")
		if !compressed(resp) {
			t.Fatalf("%s not compressed", path)
		}
		if got := gunzip(t, body); got != string(big) {
			t.Fatalf("%s: decompressed %d bytes, want exactly the original %d", path, len(got), len(big))
		}
		t.Logf("%s: %d bytes → %d compressed", path, len(big), len(body))
	}
	// A slow stream: the first event reaches the client while the backend
	// still holds the second.
	if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: gz.test\r\nAccept-Encoding: gzip\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil || !compressed(resp) {
		t.Fatalf("slow: %v %v", err, resp)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("data: first\n\n"))
	if _, err := io.ReadFull(zr, first); err != nil || string(first) != "data: first\n\n" {
		t.Fatalf("first event before the backend finished: %q %v", first, err)
	}
	close(release)
	rest, err := io.ReadAll(zr)
	if err != nil || string(rest) != "data: second\n\n" {
		t.Fatalf("second event: %q %v", rest, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	// Keep-alive after all of it: the same connection serves a plain request.
	if resp, body := get("GET", "/text?n=5000", ""); body != want || resp.Close {
		t.Errorf("keep-alive after compressed responses: %d bytes, close %v", len(body), resp.Close)
	}
}

// An HTTP/1.0 client gets the body as is (no chunked framing to carry a
// stream of unknown length): GzipResponseCompressor does not fire.
func TestGzipHTTP10Plain(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(gzipBody(3000))
	}))
	srv := startProxy(t, core.Config{})
	publishRoutes(t, srv, nil, 2, withPlugins(testRoute("gz.test", be), "GzipResponseCompressor", `{}`))
	c := dial(t, srv)
	resp, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.0\r\nHost: gz.test\r\nAccept-Encoding: gzip\r\n\r\n", "GET")
	if resp.Header.Get("Content-Encoding") != "" || body != string(gzipBody(3000)) {
		t.Errorf("HTTP/1.0: Content-Encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
	}
}

// A route with GzipResponseCompressor allocates nothing per request when it
// does not fire: a client without Accept-Encoding, and one that accepts gzip
// for a response type outside allowed_list.
func TestProxyGzipNotFiringZeroAllocs(t *testing.T) {
	be := startFixedBackend(t) // text/plain
	srv := startProxy(t, core.Config{Loops: 1})
	publishRoutes(t, srv, nil, 2, withPlugins(quickRoute(t, be), "GzipResponseCompressor", `{"allowed_list":["application/json"]}`))
	for _, bc := range []*benchClient{
		newBenchClient(t, srv.Addr().String()),
		newBenchClientFor(t, srv.Addr().String(), "GET /hello HTTP/1.1\r\nHost: bench.test\r\nAccept-Encoding: br;q=1, gzip;q=0.8, *;q=0.1\r\n\r\n"),
	} {
		for range 2000 {
			bc.do(t)
		}
		if n := testing.AllocsPerRun(5000, func() { bc.do(t) }); n != 0 {
			t.Errorf("%v allocations per proxied request, want 0", n)
		}
	}
}
