package core_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/testkit"
)

// namedBackend is a net/http backend that answers its name, and counts its
// open connections.
type namedBackend struct {
	addr string
	srv  *http.Server
	open atomic.Int64
	hits atomic.Int64
}

func startNamedBackend(t testing.TB, name string) *namedBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &namedBackend{addr: ln.Addr().String()}
	b.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			b.hits.Add(1)
			_, _ = io.WriteString(w, name)
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				b.open.Add(1)
			case http.StateClosed, http.StateHijacked:
				b.open.Add(-1)
			}
		},
	}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { _ = b.srv.Close() })
	return b
}

// deadAddr returns a loopback address that refuses connections until the test ends.
func deadAddr(t testing.TB) string {
	t.Helper()
	return testkit.RefusedAddr(t)
}

// publishRoutes compiles routes with reg and publishes them.
func publishRoutes(t testing.TB, srv *core.Server, reg *route.Registry, version uint64, routes ...route.Route) *route.Table {
	t.Helper()
	table, err := route.Compile(routes, route.CompileOptions{Seed: 1, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := core.BuildSnapshot(table, nil, nil, version)
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(snap)
	if reg != nil {
		reg.Prune(table)
	}
	return table
}

// A refused connection is retried on the next target after the backoff:
// retry_initial_delay, then × backoff_factor; the last error is answered
// when every attempt failed.
func TestRetryConnectRefusedBackoff(t *testing.T) {
	live := startNamedBackend(t, "live")
	r := testRoute("retry.test", deadAddr(t), deadAddr(t), live.addr)
	r.Backend.Client.Retries = 2
	r.Backend.Client.RetryInitialDelay = 10
	dead := testRoute("dead.test", deadAddr(t), deadAddr(t), deadAddr(t))
	dead.Backend.Client.Retries = 2
	dead.Backend.Client.RetryInitialDelay = 100
	dead.Backend.Client.BackoffFactor = 3
	none := testRoute("noretry.test", deadAddr(t), live.addr)
	none.Backend.Client.Retries = 0
	none.Backend.Client.MaxErrors = 0
	srv := startProxy(t, core.Config{})
	publishRoutes(t, srv, route.NewRegistry(), 2, r, dead, none)

	c := dial(t, srv)
	br := bufio.NewReader(c)
	for i := range 6 {
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: retry.test\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "live" {
			t.Fatalf("request %d: status %d body %q", i, resp.StatusCode, body)
		}
	}

	// Three refused attempts: waits of 100 then 300 ms, then the 502.
	start := time.Now()
	c2 := dial(t, srv)
	resp, body := roundTrip(t, c2, bufio.NewReader(c2), "GET / HTTP/1.1\r\nHost: dead.test\r\n\r\n", "GET")
	took := time.Since(start)
	if resp.StatusCode != 502 || resp.Header.Get("Otoroshi-Error-Cause") != "errors.bad.gateway" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	if took < 400*time.Millisecond {
		t.Errorf("answered after %v: the backoff (100 + 300 ms) was not waited", took)
	}

	// Without retries, a refused target is an error, whatever the other target.
	errs := 0
	for range 4 {
		c3 := dial(t, srv)
		resp, _ := roundTrip(t, c3, bufio.NewReader(c3), "GET / HTTP/1.1\r\nHost: noretry.test\r\n\r\n", "GET")
		if resp.StatusCode == 502 {
			errs++
		}
	}
	if errs != 2 {
		t.Errorf("%d of 4 round-robin requests failed without retries, want 2", errs)
	}
}

// A POST whose connection was refused goes to the next target with its
// body, on a fresh or a pooled connection.
func TestRetryConnectRefusedWithBody(t *testing.T) {
	echo := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	r := testRoute("body.test", deadAddr(t), echo)
	r.Backend.Client.Retries = 1
	r.Backend.Client.RetryInitialDelay = 0
	r.Backend.Client.MaxErrors = 0
	srv := startProxy(t, core.Config{Loops: 1})
	publishRoutes(t, srv, nil, 2, r)
	c := dial(t, srv)
	br := bufio.NewReader(c)
	for i := range 6 {
		body := "payload-" + strconv.Itoa(i)
		resp, got := roundTrip(t, c, br, "POST / HTTP/1.1\r\nHost: body.test\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body, "POST")
		if resp.StatusCode != 200 || got != body {
			t.Fatalf("POST %d: status %d body %q", i, resp.StatusCode, got)
		}
	}
}

// Once a response byte came back, the attempt is not retried: a backend
// that dies in the middle of its head is a 502, even for a GET.
func TestNoRetryAfterResponseBytes(t *testing.T) {
	var accepts atomic.Int64
	partial := startRawBackend(t, func(c net.Conn) {
		accepts.Add(1)
		br := bufio.NewReader(c)
		if _, err := readRequestHead(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Ty")
	})
	good := startNamedBackend(t, "good")
	r := testRoute("partial.test", partial, good.addr)
	r.Backend.Client.Retries = 3
	r.Backend.Client.MaxErrors = 0
	srv := startProxy(t, core.Config{})
	publishRoutes(t, srv, nil, 2, r)
	failed := 0
	for i := range 8 {
		c := dial(t, srv)
		resp, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: partial.test\r\n\r\n", "GET")
		switch {
		case resp.StatusCode == 502:
			failed++
		case resp.StatusCode != 200 || body != "good":
			t.Fatalf("request %d: status %d body %q", i, resp.StatusCode, body)
		}
	}
	if failed == 0 || int64(failed) != accepts.Load() {
		t.Errorf("%d requests failed, the partial backend got %d connections: want as many, and some", failed, accepts.Load())
	}
}

// A backend that closes connections without answering: idempotent requests
// move to the other target, a POST is not replayed; max_errors failures open
// the target's circuit and Pick skips it.
func TestRetryCircuitBreakerMovesTraffic(t *testing.T) {
	var accepts atomic.Int64
	bad := startRawBackend(t, func(c net.Conn) { accepts.Add(1) })
	good := startNamedBackend(t, "good")
	r := testRoute("cb.test", bad, good.addr)
	r.Backend.Client.Retries = 1
	r.Backend.Client.MaxErrors = 3
	r.Backend.Client.SampleInterval = 60000
	reg := route.NewRegistry()
	srv := startProxy(t, core.Config{})
	table := publishRoutes(t, srv, reg, 2, r)

	c := dial(t, srv)
	br := bufio.NewReader(c)
	for i := range 20 {
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: cb.test\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "good" {
			t.Fatalf("request %d: status %d body %q", i, resp.StatusCode, body)
		}
	}
	if n := accepts.Load(); n != 3 {
		t.Errorf("the closing backend got %d connections, want max_errors = 3 before its circuit opened", n)
	}
	ups := table.Route(r.ID).Upstreams()
	if st := ups[0].State().Circuit(); st != route.CircuitOpen {
		t.Errorf("circuit of the closing target: %v, want open", st)
	}
	if st := ups[1].State().Circuit(); st != route.CircuitClosed {
		t.Errorf("circuit of the good target: %v, want closed", st)
	}

	// A POST whose attempt reached a closing backend is not replayed.
	r2 := testRoute("post.test", bad)
	r2.Backend.Client.Retries = 3
	r2.Backend.Client.MaxErrors = 0
	publishRoutes(t, srv, reg, 3, r2)
	before := accepts.Load()
	c2 := dial(t, srv)
	resp, _ := roundTrip(t, c2, bufio.NewReader(c2), "POST / HTTP/1.1\r\nHost: post.test\r\nContent-Length: 2\r\n\r\nhi", "POST")
	if resp.StatusCode != 502 {
		t.Errorf("POST to a closing backend: status %d, want 502", resp.StatusCode)
	}
	if n := accepts.Load() - before; n != 1 {
		t.Errorf("POST sent %d times, want 1", n)
	}
}

// loadResult counts the outcomes of runLoad.
type loadResult struct {
	ok, failed atomic.Int64
	lastErr    atomic.Value
}

// runLoad sends keep-alive GETs for host on conns connections until stop is
// closed (bounded by 20 s). A failed exchange reconnects.
func runLoad(t testing.TB, srv *core.Server, host string, conns int, stop <-chan struct{}) *loadResult {
	res := &loadResult{}
	var wg sync.WaitGroup
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	deadline := time.Now().Add(20 * time.Second)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var br *bufio.Reader
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					if c != nil {
						_ = c.Close()
					}
					return
				default:
				}
				if c == nil {
					var err error
					if c, err = net.Dial("tcp", srv.Addr().String()); err != nil {
						res.failed.Add(1)
						res.lastErr.Store(err.Error())
						time.Sleep(time.Millisecond)
						continue
					}
					_ = c.SetDeadline(deadline)
					br = bufio.NewReader(c)
				}
				if _, err := io.WriteString(c, req); err != nil {
					res.failed.Add(1)
					res.lastErr.Store(err.Error())
					_ = c.Close()
					c = nil
					continue
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					res.failed.Add(1)
					res.lastErr.Store(err.Error())
					_ = c.Close()
					c = nil
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					res.failed.Add(1)
					res.lastErr.Store("status " + strconv.Itoa(resp.StatusCode) + " " + resp.Header.Get("Otoroshi-Error-Cause"))
					continue
				}
				res.ok.Add(1)
			}
		}()
	}
	t.Cleanup(wg.Wait)
	go func() { <-stop; wg.Wait() }()
	return res
}

// One of three backends dies under a bounded load of idempotent GETs:
// requests caught on it are retried on the others.
func TestFailoverUnderLoad(t *testing.T) {
	b := []*namedBackend{startNamedBackend(t, "b0"), startNamedBackend(t, "b1"), startNamedBackend(t, "b2")}
	r := testRoute("fail.test", b[0].addr, b[1].addr, b[2].addr)
	r.Backend.Client.Retries = 2
	r.Backend.Client.RetryInitialDelay = 5
	r.Backend.Client.MaxErrors = 3
	r.Backend.Client.SampleInterval = 60000
	srv := startProxy(t, core.Config{})
	publishRoutes(t, srv, route.NewRegistry(), 2, r)

	stop := make(chan struct{})
	res := runLoad(t, srv, "fail.test", 4, stop)
	time.Sleep(800 * time.Millisecond)
	before := b[1].hits.Load()
	_ = b[1].srv.Close()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	time.Sleep(50 * time.Millisecond)

	t.Logf("failover under load: %d ok, %d failed client requests (killed backend had served %d)", res.ok.Load(), res.failed.Load(), before)
	if before == 0 {
		t.Fatal("the killed backend served nothing before it died: the load did not spread")
	}
	if res.ok.Load() < 100 {
		t.Fatalf("only %d requests succeeded", res.ok.Load())
	}
	if n := res.failed.Load(); n > 3 {
		t.Errorf("%d client requests failed during failover (last: %v), want at most 3", n, res.lastErr.Load())
	}
	if b[0].hits.Load() == 0 || b[2].hits.Load() == 0 {
		t.Errorf("surviving backends served %d and %d", b[0].hits.Load(), b[2].hits.Load())
	}
}

// 100 snapshot swaps under load, alternating target sets: no request fails,
// and the idle pooled connections to a removed target close.
func TestReloadUnderLoad(t *testing.T) {
	b := []*namedBackend{startNamedBackend(t, "b0"), startNamedBackend(t, "b1"), startNamedBackend(t, "b2")}
	reg := route.NewRegistry()
	ra := testRoute("swap.test", b[0].addr, b[1].addr)
	rb := testRoute("swap.test", b[1].addr, b[2].addr)
	srv := startProxy(t, core.Config{})
	publishRoutes(t, srv, reg, 1, ra)

	stop := make(chan struct{})
	res := runLoad(t, srv, "swap.test", 4, stop)
	for i := range 100 {
		time.Sleep(15 * time.Millisecond)
		r := ra
		if i%2 == 0 {
			r = rb
		}
		publishRoutes(t, srv, reg, uint64(i+2), r)
	}
	// The last table (ra, i = 99) has no b2: its pooled connections must go.
	time.Sleep(100 * time.Millisecond)
	close(stop)
	time.Sleep(50 * time.Millisecond)
	t.Logf("reload under load: %d ok, %d failed over 100 swaps", res.ok.Load(), res.failed.Load())
	if res.ok.Load() < 100 {
		t.Fatalf("only %d requests succeeded", res.ok.Load())
	}
	if n := res.failed.Load(); n != 0 {
		t.Errorf("%d requests failed during reloads (last: %v)", n, res.lastErr.Load())
	}
	if b[0].hits.Load() == 0 || b[2].hits.Load() == 0 {
		t.Errorf("backends served %d, %d, %d: both tables were not used", b[0].hits.Load(), b[1].hits.Load(), b[2].hits.Load())
	}
	waitFor(t, func() bool { return b[2].open.Load() == 0 }, "connections to the removed target to close")
}

// Idle pooled connections to a target a publish removed are closed at the
// next tick, without waiting for the pool's idle timeout.
func TestPublishClosesPoolsOfRemovedTargets(t *testing.T) {
	old, cur := startNamedBackend(t, "old"), startNamedBackend(t, "new")
	reg := route.NewRegistry()
	srv := startProxy(t, core.Config{PoolIdleTimeout: time.Minute})
	publishRoutes(t, srv, reg, 1, testRoute("pool.test", old.addr))
	var conns []net.Conn
	for range 4 {
		c := dial(t, srv)
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(c)
			for range 5 {
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: pool.test\r\n\r\n"); err != nil {
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
			}
		}()
	}
	wg.Wait()
	if old.open.Load() == 0 {
		t.Fatal("no pooled connection to the old target")
	}
	publishRoutes(t, srv, reg, 2, testRoute("pool.test", cur.addr))
	waitFor(t, func() bool { return old.open.Load() == 0 }, "pooled connections to the removed target to close")
	resp, body := roundTrip(t, conns[0], bufio.NewReader(conns[0]), "GET / HTTP/1.1\r\nHost: pool.test\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "new" {
		t.Errorf("after the publish: status %d body %q", resp.StatusCode, body)
	}
}
