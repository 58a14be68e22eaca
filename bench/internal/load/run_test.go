package load

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/bench/internal/backend"
)

func startBackend(t *testing.T, cfg backend.Config) *backend.Server {
	t.Helper()
	srv, err := backend.Start("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func request(t *testing.T, method, url string, body []byte) ([]byte, string) {
	t.Helper()
	req, addr, err := BuildRequest(method, url, []Header{{"X-Api-Key", "k1"}}, body)
	if err != nil {
		t.Fatal(err)
	}
	return req, addr
}

// rawServer accepts connections on loopback and runs handle on each, until
// the test ends. It stands in for a broken upstream.
func rawServer(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { defer c.Close(); handle(c) })
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// readRequest reads one request head (the tests send bodiless GETs).
func readRequest(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

func TestClosedLoopPipelined(t *testing.T) {
	srv := startBackend(t, backend.Config{Size: 100})
	req, _ := request(t, "GET", "http://"+srv.Addr()+"/", nil)
	res, err := Run(context.Background(), Config{
		Addr: srv.Addr(), Request: req, Connections: 4, Pipeline: 8, Requests: 1001,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Responses != 1001 || res.OK != 1001 || res.Sent != 1001 || srv.Requests() != 1001 {
		t.Fatalf("responses %d, 2xx %d, sent %d, backend saw %d; want 1001 each",
			res.Responses, res.OK, res.Sent, srv.Requests())
	}
	if res.BodyBytes != 1001*100 || res.Latency.Count() != 1001 || res.Errors.Total() != 0 {
		t.Fatalf("body bytes %d, latencies %d, errors %+v", res.BodyBytes, res.Latency.Count(), res.Errors)
	}
}

func TestClosedLoopPost(t *testing.T) {
	srv := startBackend(t, backend.Config{Size: 10, Sizes: map[string]int{"/big": 16 << 10}})
	body := []byte(strings.Repeat("p", 1024))
	req, _ := request(t, "POST", "http://"+srv.Addr()+"/big", body)
	res, err := Run(context.Background(), Config{Addr: srv.Addr(), Request: req, Connections: 2, Requests: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 200 || res.BodyBytes != 200*16<<10 || res.Errors.Total() != 0 {
		t.Fatalf("2xx %d, body bytes %d, errors %+v", res.OK, res.BodyBytes, res.Errors)
	}
}

// TestLargeRequestBody sends requests far larger than a socket buffer, so
// the write started inside the read callback is partial and the rest goes
// out through the blocking path.
func TestLargeRequestBody(t *testing.T) {
	const size = 6 << 20
	addr := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			n := int64(-1)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" {
					break
				}
				if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
					n, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				}
			}
			time.Sleep(20 * time.Millisecond) // let the client's socket buffer fill
			if got, err := io.CopyN(io.Discard, br, n); err != nil || got != size {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	req, _ := request(t, "POST", "http://"+addr+"/", make([]byte, size))
	res, err := Run(context.Background(), Config{Addr: addr, Request: req, Connections: 1, Requests: 3, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 3 || res.Errors.Total() != 0 {
		t.Fatalf("2xx %d, errors %+v; want 3 clean exchanges", res.OK, res.Errors)
	}
}

// TestOpenLoopRate checks the rate from the receiving side: the backend must
// count the requested rate within 2% over 5 s.
func TestOpenLoopRate(t *testing.T) {
	srv := startBackend(t, backend.Config{Size: 20})
	req, _ := request(t, "GET", "http://"+srv.Addr()+"/", nil)
	const rate, dur = 2000.0, 5 * time.Second
	res, err := Run(context.Background(), Config{
		Addr: srv.Addr(), Request: req, Connections: 8, Rate: rate, Duration: dur,
	})
	if err != nil {
		t.Fatal(err)
	}
	received := float64(srv.Requests()) / dur.Seconds()
	t.Logf("backend received %d requests (%.1f/s), per second %v; generator elapsed %v, p99 %v µs",
		srv.Requests(), received, srv.PerSecond(), res.Elapsed, res.Latency.Quantile(0.99)/1e3)
	if math.Abs(received-rate)/rate > 0.02 {
		t.Fatalf("backend received %.1f req/s, want %.0f ± 2%%", received, rate)
	}
	if res.Responses != srv.Requests() || res.Errors.Total() != 0 {
		t.Fatalf("generator counted %d responses, backend %d; errors %+v", res.Responses, srv.Requests(), res.Errors)
	}
	if res.SendLag.Count() != res.Sent {
		t.Fatalf("%d send lags recorded for %d requests sent", res.SendLag.Count(), res.Sent)
	}
	t.Logf("sends behind schedule: p50 %v, p99 %v", time.Duration(res.SendLag.Quantile(0.5)), time.Duration(res.SendLag.Quantile(0.99)))
	if res.Elapsed > dur+500*time.Millisecond {
		t.Fatalf("run took %v: the schedule fell behind", res.Elapsed)
	}
}

// TestOpenLoopCorrectsOmission: with a backend that takes 20 ms per request
// on one connection at 100 req/s (one every 10 ms) for 0.4 s, requests
// queue, and the latency from the intended send time must grow well past the
// 20 ms service time (a closed-loop measurement would report about 20 ms
// throughout).
func TestOpenLoopCorrectsOmission(t *testing.T) {
	srv := startBackend(t, backend.Config{Size: 20, Delay: 20 * time.Millisecond})
	req, _ := request(t, "GET", "http://"+srv.Addr()+"/", nil)
	res, err := Run(context.Background(), Config{
		Addr: srv.Addr(), Request: req, Connections: 1, Rate: 100, Duration: 400 * time.Millisecond, Timeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Request i is sent at about 20ms*i and was intended at 10ms*i, so the
	// last of the 40 requests waited ~0.4 s.
	if res.Responses != 40 {
		t.Fatalf("%d responses, want the 40 scheduled (none skipped)", res.Responses)
	}
	if p99 := time.Duration(res.Latency.Quantile(0.99)); p99 < 300*time.Millisecond {
		t.Fatalf("p99 = %v, want > 300ms: omission not corrected", p99)
	}
	if p0 := time.Duration(res.Latency.Min()); p0 < 20*time.Millisecond {
		t.Fatalf("min latency %v below the 20ms service time", p0)
	}
}

func TestErrorCounting(t *testing.T) {
	run := func(addr string, cfg Config) *Result {
		t.Helper()
		cfg.Addr = addr
		cfg.Request, _ = request(t, "GET", "http://"+addr+"/", nil)
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	t.Run("status 500", func(t *testing.T) {
		srv := startBackend(t, backend.Config{Size: 5, Status: 500})
		res := run(srv.Addr(), Config{Connections: 2, Requests: 50})
		if res.Errors.Status[500] != 50 || res.OK != 0 || res.Responses != 50 || res.Errors.Total() != 50 {
			t.Fatalf("got %+v, %d responses, %d 2xx; want 50 counted as 500", res.Errors, res.Responses, res.OK)
		}
	})
	t.Run("closes without answering", func(t *testing.T) {
		addr := rawServer(t, func(c net.Conn) { readRequest(bufio.NewReader(c)) })
		res := run(addr, Config{Connections: 2, Requests: 20})
		if res.Errors.Read != 20 || res.Responses != 0 {
			t.Fatalf("got %+v with %d responses; want 20 read errors", res.Errors, res.Responses)
		}
	})
	t.Run("stalls past the timeout", func(t *testing.T) {
		addr := rawServer(t, func(c net.Conn) {
			readRequest(bufio.NewReader(c))
			io.Copy(io.Discard, c) // never answer; return when the client gives up
		})
		res := run(addr, Config{Connections: 4, Requests: 8, Timeout: 100 * time.Millisecond})
		if res.Errors.Timeout != 8 || res.Responses != 0 {
			t.Fatalf("got %+v with %d responses; want 8 timeouts", res.Errors, res.Responses)
		}
	})
	t.Run("broken response", func(t *testing.T) {
		addr := rawServer(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			for readRequest(br) == nil {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
			}
		})
		res := run(addr, Config{Connections: 1, Requests: 5})
		if res.Errors.Protocol != 5 {
			t.Fatalf("got %+v; want 5 protocol errors", res.Errors)
		}
	})
	t.Run("connection close is not an error", func(t *testing.T) {
		addr := rawServer(t, func(c net.Conn) {
			readRequest(bufio.NewReader(c))
			io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
		})
		res := run(addr, Config{Connections: 2, Requests: 10})
		if res.OK != 10 || res.Errors.Total() != 0 {
			t.Fatalf("got %d 2xx, errors %+v; want 10 clean responses over fresh connections", res.OK, res.Errors)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		res := run(addr, Config{Connections: 2, Duration: 200 * time.Millisecond})
		if res.Errors.Connect < 2 || res.Responses != 0 || res.Sent != 0 {
			t.Fatalf("got %+v, %d responses; want connect errors only", res.Errors, res.Responses)
		}
	})
}

func TestContextStopsRun(t *testing.T) {
	srv := startBackend(t, backend.Config{Size: 5})
	req, _ := request(t, "GET", "http://"+srv.Addr()+"/", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Config{Addr: srv.Addr(), Request: req, Connections: 2, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Elapsed > 5*time.Second || res.OK == 0 {
		t.Fatalf("elapsed %v with %d responses; want a prompt stop after some traffic", res.Elapsed, res.OK)
	}
}

func TestConfigErrors(t *testing.T) {
	f := func(cfg Config) {
		t.Helper()
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Fatalf("Run(%+v): err = %v, want ErrConfig", cfg, err)
		}
	}
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	f(Config{Request: req, Connections: 1, Requests: 1})
	f(Config{Addr: "127.0.0.1:1", Request: req, Connections: 0, Requests: 1})
	f(Config{Addr: "127.0.0.1:1", Request: req, Connections: 1})
	f(Config{Addr: "127.0.0.1:1", Request: req, Connections: 1, Requests: 1, Rate: 10, Pipeline: 2})
	f(Config{Addr: "127.0.0.1:1", Request: req, Connections: 1, Requests: 1, Rate: -1})
}

func TestBuildRequest(t *testing.T) {
	req, addr, err := BuildRequest("POST", "http://127.0.0.1:8080/a?b=c", []Header{{"X-Key", "v"}}, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	want := "POST /a?b=c HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: torii-loadgen\r\nX-Key: v\r\nContent-Length: 2\r\n\r\nhi"
	if string(req) != want || addr != "127.0.0.1:8080" {
		t.Fatalf("got %q for %s, want %q", req, addr, want)
	}
	_, addr, err = BuildRequest("GET", "http://localhost/", nil, nil)
	if err != nil || addr != "localhost:80" {
		t.Fatalf("default port: addr %q, err %v", addr, err)
	}
	for _, bad := range []string{"https://x/", "x/y", "http:///", "::"} {
		if _, _, err := BuildRequest("GET", bad, nil, nil); err == nil {
			t.Errorf("BuildRequest accepted %q", bad)
		}
	}
	if _, _, err := BuildRequest("GET", "http://x/", []Header{{"Bad\r\nName", "v"}}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("header injection: err = %v", err)
	}
	if h, err := ParseHeader(" Otoroshi-Client-Id :  abc "); err != nil || h != (Header{"Otoroshi-Client-Id", "abc"}) {
		t.Errorf("ParseHeader = %+v, %v", h, err)
	}
	if _, err := ParseHeader("novalue"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseHeader(novalue): err = %v", err)
	}
}
