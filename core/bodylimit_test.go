package core_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
)

// drainBackend reads each request body to its end, then answers its length.
func drainBackend(t *testing.T) string {
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	}))
}

// TestSlowRequestBodyCutOff: a 1 GiB Content-Length body trickled at 50 B/s, above no gap
// timeout, is answered 408 once it falls behind BodyMinRate (here after about 2 s: 1 s of
// BodyTimeout plus a second per 100 bytes received); a body that keeps up goes through.
func TestSlowRequestBodyCutOff(t *testing.T) {
	srv := startProxy(t, core.Config{BodyTimeout: time.Second, BodyMinRate: 100, MaxRequestBody: -1},
		testRoute("*", drainBackend(t)))
	trickle := func(total, step int) (*http.Response, string, time.Duration) {
		c := dial(t, srv)
		_, _ = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", total)
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for sent := 0; sent < total; sent += step {
				if _, err := io.WriteString(c, strings.Repeat("a", min(step, total-sent))); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		resp, body := readResponse(t, bufio.NewReader(c), "POST")
		_ = c.Close()
		<-done
		return resp, body, time.Since(start)
	}
	resp, body, took := trickle(1<<30, 5)
	checkError(t, resp, body, 408, "errors.client.timeout")
	if took < 1500*time.Millisecond || took > 4*time.Second {
		t.Errorf("slow body cut after %v, want about 2s", took)
	}
	// 1,000 B/s for 2.5 s, ten times the minimum rate: served.
	if resp, body, _ := trickle(2500, 100); resp.StatusCode != 200 || body != "2500" {
		t.Errorf("a body above the minimum rate: %d %q", resp.StatusCode, body)
	}
}

func limiterPlugin(name string, cfg string) route.Plugin {
	return route.Plugin{Enabled: true, Plugin: "cp:otoroshi.next.plugins." + name, Config: json.RawMessage(cfg)}
}

// TestRequestBodyLimits: the global bound and a route's RequestBodyLengthLimiter, the
// smaller one winning; a Content-Length over it is refused before the backend, a chunked
// body when it goes over; both 413 in Otoroshi's shape.
func TestRequestBodyLimits(t *testing.T) {
	be := drainBackend(t)
	limited := testRoute("limited.test", be)
	limited.Plugins = append(limited.Plugins, limiterPlugin("RequestBodyLengthLimiter", `{"max_length": 10, "fail": true}`))
	defaulted := testRoute("default.test", be) // max_length absent: Otoroshi's 4 MiB
	defaulted.Plugins = append(defaulted.Plugins, limiterPlugin("RequestBodyLengthLimiter", `{}`))
	srv := startProxy(t, core.Config{MaxRequestBody: 1000}, testRoute("*", be), limited, defaulted)
	f := func(host, framing string, n int, status int, want string) {
		t.Helper()
		c := dial(t, srv)
		defer c.Close()
		body := strings.Repeat("b", n)
		if framing == "chunked" {
			var b strings.Builder
			for len(body) > 0 {
				k := min(len(body), 400)
				fmt.Fprintf(&b, "%x\r\n%s\r\n", k, body[:k])
				body = body[k:]
			}
			b.WriteString("0\r\n\r\n")
			_, _ = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n%s", host, b.String())
		} else {
			_, _ = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", host, n, body)
		}
		resp, got := readResponse(t, bufio.NewReader(c), "POST")
		if status == 413 {
			checkError(t, resp, got, 413, "errors.failed.response.entityTooLarge")
			return
		}
		if resp.StatusCode != status || got != want {
			t.Errorf("%s %s %d bytes: %d %q, want %d %q", host, framing, n, resp.StatusCode, got, status, want)
		}
	}
	f("any.test", "length", 1000, 200, "1000")
	f("any.test", "length", 1001, 413, "")
	f("any.test", "chunked", 1000, 200, "1000")
	f("any.test", "chunked", 1200, 413, "")
	f("limited.test", "length", 10, 200, "10")
	f("limited.test", "length", 11, 413, "")
	f("limited.test", "chunked", 11, 413, "")
	f("default.test", "length", 1000, 200, "1000") // 4 MiB, the global 1000 is smaller
	f("default.test", "length", 1001, 413, "")
}

// TestResponseBodyLimit: a route's ResponseBodyLengthLimiter answers 413 for a
// Content-Length over it and cuts a chunked response that goes over.
func TestResponseBodyLimit(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		for i := 0; i < n; i += 50 {
			_, _ = io.WriteString(w, strings.Repeat("r", min(50, n-i)))
			w.(http.Flusher).Flush()
		}
	}))
	rt := testRoute("*", be)
	rt.Plugins = append(rt.Plugins, limiterPlugin("ResponseBodyLengthLimiter", `{"max_length": 100}`))
	srv := startProxy(t, core.Config{}, rt)
	get := func(query string) (*http.Response, string, error) {
		c := dial(t, srv)
		defer c.Close()
		_, _ = fmt.Fprintf(c, "GET /?%s HTTP/1.1\r\nHost: x\r\n\r\n", query)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return nil, "", err
		}
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}
	if resp, body, err := get("n=100"); err != nil || resp.StatusCode != 200 || len(body) != 100 {
		t.Errorf("100 bytes: %v %q %v", resp, body, err)
	}
	resp, body, err := get("n=101")
	if err != nil {
		t.Fatal(err)
	}
	checkError(t, resp, body, 413, "errors.failed.response.entityTooLarge")
	if resp, body, err := get("n=100&chunked=1"); err != nil || resp.StatusCode != 200 || len(body) != 100 {
		t.Errorf("100 chunked bytes: %v %q %v", resp, body, err)
	}
	if _, body, err := get("n=300&chunked=1"); err == nil || len(body) > 100 {
		t.Errorf("300 chunked bytes over a 100-byte limit: %d bytes, %v; want a cut-off connection", len(body), err)
	}
}

// TestBodyLimiterConfig: a negative max_length refuses the route's policy (the route then
// answers 500); a limiter with include paths is still a known plugin.
func TestBodyLimiterConfig(t *testing.T) {
	rt := testRoute("*", "127.0.0.1:1")
	rt.Plugins = append(rt.Plugins, limiterPlugin("RequestBodyLengthLimiter", `{"max_length": -1}`))
	table, err := route.Compile([]route.Route{rt}, route.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(table.Warnings()) != 0 {
		t.Errorf("warnings: %v", table.Warnings())
	}
	if _, err := core.BuildSnapshot(table, nil, nil, 1); err == nil || !strings.Contains(err.Error(), "max_length") {
		t.Errorf("BuildSnapshot: %v, want a max_length error", err)
	}
}

// TestLargeTrailer431: a request trailer section over the parser's bound (16 KiB) is
// answered with the parser's status for it, 431, not a generic 400.
func TestLargeTrailer431(t *testing.T) {
	srv := startProxy(t, core.Config{}, testRoute("*", drainBackend(t)))
	c := dial(t, srv)
	defer c.Close()
	trailer := "X-Big: " + strings.Repeat("t", 40<<10) + "\r\n"
	go func() {
		_, _ = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n%s\r\n", trailer)
	}()
	resp, body := readResponse(t, bufio.NewReader(c), "POST")
	checkError(t, resp, body, 431, "errors.headers.too.large")
}
