package h2edge_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/h2edge"
)

// TestH2Proxy: Go's HTTP/2 client through h2edge and the engine to an HTTP/1.1 backend: GET,
// POST with and without content-length, streamed response, response trailers, 50 concurrent
// streams on one connection, an unknown host answered by the engine (404 in Otoroshi's shape),
// and events with protocol HTTP/2.0.
func TestH2Proxy(t *testing.T) { bothServers(t, testH2Proxy) }

func testH2Proxy(t *testing.T) {
	e := newEnv(t, h2edge.Config{})
	cl := e.client()
	do := func(method, path, body string, chunked bool) (*http.Response, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
			if chunked {
				rd = io.MultiReader(rd) // unknown length: no content-length, DATA frames only
			}
		}
		req, _ := http.NewRequest(method, "http://h2.test"+path, rd)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp, string(b)
	}
	resp, b := do("GET", "/", "", false)
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || !strings.HasPrefix(b, "proto=HTTP/1.1 host=h2.test xff=127.0.0.1 xfp="+e.scheme+" len=0") {
		t.Errorf("GET: %d %s %q", resp.StatusCode, resp.Proto, b)
	}
	if _, b = do("POST", "/", "hello", false); !strings.HasSuffix(b, "len=5 body=hello") {
		t.Errorf("POST: %q", b)
	}
	if _, b = do("POST", "/", "chunked body", true); !strings.HasSuffix(b, "len=-1 body=chunked body") {
		t.Errorf("POST without length: %q", b)
	}
	if _, b = do("GET", "/stream", "", false); b != "part0;part1;part2;" {
		t.Errorf("stream: %q", b)
	}
	resp, b = do("GET", "/trailers", "", false)
	if b != "body" || resp.Trailer.Get("X-Sum") != "42" {
		t.Errorf("trailers: %q %v", b, resp.Trailer)
	}
	req, _ := http.NewRequest("GET", "http://nowhere.test/", nil)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Otoroshi-Error-Cause") != "errors.service.not.found" {
		t.Errorf("unknown host: %d %v %s", resp.StatusCode, resp.Header, b2)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", "http://h2.test/slow", strings.NewReader(fmt.Sprint(i)))
			resp, err := cl.Do(req)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasSuffix(string(b), "body="+fmt.Sprint(i)) {
				errs <- fmt.Errorf("stream %d: %d %q", i, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	evs := e.waitEvents(t, 56)
	for _, ev := range evs {
		if ev["protocol"] != "HTTP/2.0" {
			t.Fatalf("event protocol %v: %v", ev["protocol"], ev)
		}
	}
}

// TestH2SlowBigDownload: a 48 MiB response to a client that reads slowly completes, and the
// gateway does not hold it in memory: the backend is pushed back on (the engine's server takes
// the backend's socket off the loop while the stream drains, h2hold.go).
func TestH2SlowBigDownload(t *testing.T) { bothServers(t, testH2SlowBigDownload) }

func testH2SlowBigDownload(t *testing.T) {
	e := newEnv(t, h2edge.Config{})
	base := heapMiB()
	resp, err := e.client().Get("http://h2.test/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 256<<10)
	total, peak := 0, 0.0
	for i := 0; ; i++ {
		n, err := io.ReadFull(resp.Body, buf)
		total += n
		if err != nil {
			if total != 48<<20 {
				t.Logf("read error: %v", err)
			}
			break
		}
		if i%16 == 0 {
			time.Sleep(40 * time.Millisecond) // ~6 MiB/s: far slower than the backend
			if h := heapMiB(); h > peak {
				peak = h
			}
		}
	}
	if total != 48<<20 {
		t.Fatalf("read %d bytes, want %d", total, 48<<20)
	}
	t.Logf("peak heap growth during the download: %.1f MiB", peak-base)
	if peak-base > 40 {
		t.Errorf("heap grew by %.1f MiB while a 48 MiB body went to a slow client", peak-base)
	}
}
