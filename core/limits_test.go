package core_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
)

// gatedBackend holds every request to /slow until open is closed, and counts
// the requests it received.
type gatedBackend struct {
	addr    string
	arrived atomic.Int64
	open    chan struct{}
	once    sync.Once
}

func startGatedBackend(t *testing.T) *gatedBackend {
	t.Helper()
	g := &gatedBackend{open: make(chan struct{})}
	g.addr = startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.arrived.Add(1)
		if r.URL.Path == "/slow" {
			select {
			case <-g.open:
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(g.release) // registered after the backend's: runs first
	return g
}

func (g *gatedBackend) release() { g.once.Do(func() { close(g.open) }) }

// limitGlobal is a Global with the concurrency limit on.
func limitGlobal(n int64) *core.Global {
	return &core.Global{LimitConcurrentRequests: true, MaxConcurrentRequests: n}
}

// sendRequest opens a connection to srv and writes raw on it.
func sendRequest(t *testing.T, srv *core.Server, raw string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := dial(t, srv)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// With maxConcurrentRequests = N, exactly N requests reach the backend while
// they are in flight; the others are answered at once 429
// errors.cant.process.more.request with a JSON body, counted in the metrics
// and in their events; once the N finish, requests pass again.
func TestConcurrentRequestsLimit(t *testing.T) {
	const limit, extra = 3, 4
	o := startObserved(t, 2)
	be := startGatedBackend(t)
	srv := startProxy(t, o.config(2))
	publishKeys(t, srv, nil, 2, nil, limitGlobal(limit), testRoute("*", be.addr))

	slow := make([]*bufio.Reader, limit)
	for i := range slow {
		_, slow[i] = sendRequest(t, srv, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	waitFor(t, func() bool { return be.arrived.Load() == limit && srv.InFlight() == limit }, "the slow requests in flight")

	var refused []net.Conn
	for range extra {
		c, br := sendRequest(t, srv, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := readResponse(t, br, "GET")
		var doc map[string]string
		if resp.StatusCode != 429 || resp.Header.Get("Content-Type") != "application/json" ||
			resp.Header.Get("Otoroshi-Error-Cause") != "errors.cant.process.more.request" ||
			json.Unmarshal([]byte(body), &doc) != nil || doc["error"] != "errors.cant.process.more.request" {
			t.Fatalf("request past the limit: status %d headers %v body %q", resp.StatusCode, resp.Header, body)
		}
		refused = append(refused, c)
	}
	if n := be.arrived.Load(); n != limit {
		t.Fatalf("the backend saw %d requests, want %d", n, limit)
	}

	be.release()
	for i, br := range slow {
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("slow request %d: status %d body %q", i, resp.StatusCode, body)
		}
	}
	waitFor(t, func() bool { return srv.InFlight() == 0 }, "no request in flight")
	// The refused connections stayed open, and are served now.
	for i, c := range refused {
		if resp, body := roundTrip(t, c, bufio.NewReader(c), "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n", "GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d after the slow ones: status %d body %q", i, resp.StatusCode, body)
		}
	}

	// Each count is released just after its response's last byte is sent.
	waitFor(t, func() bool { return srv.InFlight() == 0 }, "no request in flight at the end")
	var prom bytes.Buffer
	o.set.WritePrometheus(&prom)
	for _, want := range []string{"torii_concurrent_requests_rejected_total " + strconv.Itoa(extra), "torii_gateway_requests_in_flight 0"} {
		if !strings.Contains(prom.String(), want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(prom.String(), "torii_"))
		}
	}
	evs := o.waitEvents(t, limit+2*extra)
	rejected := 0
	for _, ev := range evs {
		if ev["gwError"] == "errors.cant.process.more.request" {
			rejected++
			if ev["status"] != float64(429) || ev["err"] != true {
				t.Errorf("rejected event: status %v err %v", ev["status"], ev["err"])
			}
		}
	}
	if rejected != extra {
		t.Errorf("%d events of rejected requests, want %d", rejected, extra)
	}
}

// Every way an exchange can end releases its count: with a limit of 1, a
// leaked count would refuse the next request. Each case is followed by a
// request that must pass, and the in-flight count must be back to 0.
func TestConcurrentRequestsReleased(t *testing.T) {
	o := startObserved(t, 2)
	good := startGatedBackend(t)
	payload := bytes.Repeat([]byte("x"), 8<<20)
	big := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			time.Sleep(100 * time.Millisecond) // let the upload fill the proxy's buffer
			n, _ := io.Copy(io.Discard, r.Body)
			_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
			return
		}
		_, _ = w.Write(payload)
	}))
	silent := startRawBackend(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	cut := startRawBackend(t, func(c net.Conn) {
		_, _ = readRequestHead(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
	})
	garbage := startRawBackend(t, func(c net.Conn) {
		_, _ = readRequestHead(bufio.NewReader(c))
		_, _ = io.WriteString(c, "NOT HTTP AT ALL\r\n\r\n")
	})
	upgrade := startRawBackend(t, func(c net.Conn) {
		_, _ = readRequestHead(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_, _ = io.Copy(c, c)
	})

	timeout := testRoute("timeout.test", silent)
	timeout.Backend.Client.CallTimeout = 200
	retry := testRoute("retry.test", deadAddr(t), good.addr)
	retry.Backend.Client.Retries, retry.Backend.Client.RetryInitialDelay = 2, 10
	routes := []route.Route{
		testRoute("ok.test", good.addr), testRoute("dead.test", deadAddr(t)), timeout, retry,
		testRoute("cut.test", cut), testRoute("garbage.test", garbage), testRoute("big.test", big),
		testRoute("ws.test", upgrade),
	}
	cfg := o.config(2)
	cfg.HighWater = 64 << 10
	srv := startProxy(t, cfg)
	publishKeys(t, srv, nil, 2, nil, limitGlobal(1), routes...)

	// A count is released just after the last response byte is sent: wait
	// for it before the next request.
	passes := func(what string) {
		t.Helper()
		waitFor(t, func() bool { return srv.InFlight() == 0 }, "no request in flight after "+what)
		c, br := sendRequest(t, srv, "GET /fast HTTP/1.1\r\nHost: ok.test\r\n\r\n")
		defer c.Close()
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 {
			t.Fatalf("after %s: status %d body %q", what, resp.StatusCode, body)
		}
		waitFor(t, func() bool { return srv.InFlight() == 0 }, "no request in flight after the check of "+what)
	}
	status := func(what, raw string, want int) {
		t.Helper()
		c, br := sendRequest(t, srv, raw)
		defer c.Close()
		if resp, body := readResponse(t, br, "GET"); resp.StatusCode != want {
			t.Fatalf("%s: status %d, want %d: %q", what, resp.StatusCode, want, body)
		}
		passes(what)
	}
	passes("nothing")

	// The client leaves while the backend holds its request.
	c, _ := sendRequest(t, srv, "GET /slow HTTP/1.1\r\nHost: ok.test\r\n\r\n")
	waitFor(t, func() bool { return srv.InFlight() == 1 }, "the slow request in flight")
	_ = c.Close()
	passes("a client gone mid-exchange")

	status("a refused backend", "GET / HTTP/1.1\r\nHost: dead.test\r\n\r\n", 502)
	status("a backend timeout", "GET / HTTP/1.1\r\nHost: timeout.test\r\n\r\n", 504)
	status("a retry on another target", "GET / HTTP/1.1\r\nHost: retry.test\r\n\r\n", 200)
	status("a malformed response", "GET / HTTP/1.1\r\nHost: garbage.test\r\n\r\n", 502)
	status("a broken chunked upload", "POST / HTTP/1.1\r\nHost: ok.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400)

	// A backend that closes mid-body: the client gets a truncated response.
	c, br := sendRequest(t, srv, "GET / HTTP/1.1\r\nHost: cut.test\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err == nil {
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Fatal("a body cut by the backend was read whole")
		}
	}
	_ = c.Close()
	passes("a backend gone mid-body")

	// A pumped download whose client leaves.
	c, br = sendRequest(t, srv, "GET / HTTP/1.1\r\nHost: big.test\r\n\r\n")
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
	waitFor(t, func() bool { return srv.Stats().Pumped > 0 }, "the download pumped")
	_, _ = br.Peek(1)
	_ = c.Close()
	passes("a pumped download cut by its client")

	// A pumped upload, then a pumped download, both complete.
	c, br = sendRequest(t, srv, "POST / HTTP/1.1\r\nHost: big.test\r\nContent-Length: "+strconv.Itoa(len(payload))+"\r\n\r\n")
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	if resp, body := readResponse(t, br, "POST"); resp.StatusCode != 200 || body != strconv.Itoa(len(payload)) {
		t.Fatalf("pumped upload: status %d body %q", resp.StatusCode, body)
	}
	if resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: big.test\r\n\r\n", "GET"); resp.StatusCode != 200 || len(body) != len(payload) {
		t.Fatalf("pumped download: status %d, %d bytes", resp.StatusCode, len(body))
	}
	_ = c.Close()
	passes("pumped exchanges")

	// An upgraded connection is no longer a request in flight.
	c, br = sendRequest(t, srv, "GET / HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	passes("an upgrade, while the tunnel is open")
	_ = c.Close()

	var prom bytes.Buffer
	o.set.WritePrometheus(&prom)
	if !strings.Contains(prom.String(), "torii_gateway_requests_in_flight 0\n") ||
		!strings.Contains(prom.String(), "torii_concurrent_requests_rejected_total 0\n") {
		t.Errorf("/metrics:\n%s", grepLines(prom.String(), "torii_"))
	}
}
