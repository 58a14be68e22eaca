package route

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

// flipBackend is a real loopback HTTP server whose /health status can be changed.
type flipBackend struct {
	srv    *httptest.Server
	status atomic.Int32
	hits   atomic.Int32
	host   atomic.Value // last Host header seen
	port   int
}

func newFlipBackend(t *testing.T) *flipBackend {
	t.Helper()
	b := &flipBackend{}
	b.status.Store(200)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			w.WriteHeader(404)
			return
		}
		b.hits.Add(1)
		b.host.Store(r.Host)
		w.WriteHeader(int(b.status.Load()))
	}))
	t.Cleanup(b.srv.Close)
	b.port = b.srv.Listener.Addr().(*net.TCPAddr).Port
	return b
}

func healthRoutes(hc string, ports ...int) string {
	var ts []string
	for i, p := range ports {
		ts = append(ts, fmt.Sprintf(`{"id":"t%d","hostname":"localhost","port":%d}`, i, p))
	}
	return fmt.Sprintf(`[{"id":"r","frontend":{"domains":["h.com"]},"backend":{"health_check":%s,"targets":[%s]}}]`, hc, strings.Join(ts, ","))
}

func TestHealthCheckTransitions(t *testing.T) {
	b0, b1 := newFlipBackend(t), newFlipBackend(t)
	dead := int(netip.MustParseAddrPort(testkit.RefusedAddr(t)).Port())
	log := &eventLog{}
	reg := NewRegistry()
	reg.OnEvent = log.add
	js := healthRoutes(`{"enabled":true,"url":"/health","timeout":2000}`, b0.port, b1.port, dead)
	tab := mustCompile(t, js, CompileOptions{Registry: reg})
	hc := NewHealthChecker(reg, HealthOptions{Interval: time.Hour})
	hc.Update(tab)
	ctx := context.Background()
	c := tab.Route("r")
	ups := c.Upstreams()

	hc.CheckNow(ctx)
	if !ups[0].State().Healthy() || !ups[1].State().Healthy() || ups[2].State().Healthy() {
		t.Fatalf("after first round: healthy %v %v %v, want true true false",
			ups[0].State().Healthy(), ups[1].State().Healthy(), ups[2].State().Healthy())
	}
	if h, _ := b0.host.Load().(string); h != fmt.Sprintf("localhost:%d", b0.port) {
		t.Fatalf("health check Host = %q, want the target's hostname:port", h)
	}

	b0.status.Store(503)
	hc.CheckNow(ctx)
	if ups[0].State().Healthy() {
		t.Fatalf("target 0 answers 503 yet is healthy")
	}
	for range 10 {
		if _, i := c.Pick(nil); i != 1 {
			t.Fatalf("picked %d, want only the healthy target 1", i)
		}
	}
	b0.status.Store(200)
	hc.CheckNow(ctx)
	if !ups[0].State().Healthy() {
		t.Fatalf("target 0 recovered yet is unhealthy")
	}
	kinds := log.kinds()
	want := []EventKind{EventTargetDown, EventTargetDown, EventTargetUp} // dead port, then b0 down, b0 up
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}

	// The state lives in the registry: a recompiled table sees it.
	b1.status.Store(500)
	hc.CheckNow(ctx)
	tab2 := mustCompile(t, js, CompileOptions{Registry: reg})
	if tab2.Route("r").Upstreams()[1].State().Healthy() {
		t.Fatalf("health state lost across a reload")
	}
	if tab2.Route("r").Upstreams()[1].State() != ups[1].State() {
		t.Fatalf("a reload with the same registry must reuse the target state")
	}
}

func TestHealthCheckStatusSets(t *testing.T) {
	f := func(healthy, unhealthy []int, status int, want bool) {
		t.Helper()
		hc := &HealthCheck{HealthyStatuses: healthy, UnhealthyStatuses: unhealthy}
		if got := healthyStatus(hc, status); got != want {
			t.Fatalf("healthy %v unhealthy %v status %d: %v, want %v", healthy, unhealthy, status, got, want)
		}
	}
	f(nil, nil, 200, true)
	f(nil, nil, 302, true)
	f(nil, nil, 404, false)
	f(nil, nil, 500, false)
	f([]int{200}, nil, 204, false)
	f([]int{200, 404}, nil, 404, true)
	f(nil, []int{429}, 429, false)
	f([]int{429}, []int{429}, 429, false)

	// End to end with a real backend answering 204 while only 200 is healthy.
	b := newFlipBackend(t)
	b.status.Store(204)
	reg := NewRegistry()
	tab := mustCompile(t, healthRoutes(`{"enabled":true,"url":"http://ignored.example/health","timeout":2000,"healthyStatuses":[200]}`, b.port), CompileOptions{Registry: reg})
	hc := NewHealthChecker(reg, HealthOptions{})
	hc.Update(tab)
	hc.CheckNow(context.Background())
	if tab.Route("r").Upstreams()[0].State().Healthy() || b.hits.Load() != 1 {
		t.Fatalf("204 with healthyStatuses [200]: healthy=%v hits=%d, want false 1",
			tab.Route("r").Upstreams()[0].State().Healthy(), b.hits.Load())
	}
	// Reloading without a health check marks the target healthy again.
	tab2 := mustCompile(t, healthRoutes(`null`, b.port), CompileOptions{Registry: reg})
	hc.Update(tab2)
	if !tab2.Route("r").Upstreams()[0].State().Healthy() {
		t.Fatalf("a target whose health check was removed must be healthy")
	}
}

func TestHealthCheckerRunStops(t *testing.T) {
	b := newFlipBackend(t)
	reg := NewRegistry()
	tab := mustCompile(t, healthRoutes(`{"enabled":true,"url":"/health","timeout":1000}`, b.port), CompileOptions{Registry: reg})
	hc := NewHealthChecker(reg, HealthOptions{Interval: 10 * time.Millisecond})
	hc.Update(tab)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hc.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for b.hits.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Run did not stop after cancel")
	}
	if b.hits.Load() < 2 {
		t.Fatalf("Run checked %d times in 5 s, want at least 2", b.hits.Load())
	}
}

func TestHealthCheckTimeout(t *testing.T) {
	// A target that accepts connections and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	reg := NewRegistry()
	tab := mustCompile(t, healthRoutes(`{"enabled":true,"url":"/health","timeout":200}`, port), CompileOptions{Registry: reg})
	hc := NewHealthChecker(reg, HealthOptions{})
	hc.Update(tab)
	start := time.Now()
	hc.CheckNow(context.Background())
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a check with a 200ms timeout took %s", el)
	}
	if tab.Route("r").Upstreams()[0].State().Healthy() {
		t.Fatalf("a target that never answers must be unhealthy")
	}
}

// TestHealthCheckTLS: a TLS target is checked over TLS with its profile (here trust_all, since
// httptest's certificate is for example.com): healthy; the same server as a plaintext target
// is unhealthy (it answers 400 to plain HTTP).
func TestHealthCheckTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.URL.Path != "/health" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(204)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	js := fmt.Sprintf(`[{"id":"r","frontend":{"domains":["h.com"]},"backend":{"health_check":{"enabled":true,"url":"/health","timeout":2000},"targets":[
		{"id":"tls","hostname":"127.0.0.1","port":%d,"tls":true,"tls_config":{"trust_all":true}},
		{"id":"verified","hostname":"127.0.0.1","port":%d,"tls":true},
		{"id":"plain","hostname":"127.0.0.1","port":%d}]}}]`, port, port, port)
	reg := NewRegistry()
	tab := mustCompile(t, js, CompileOptions{Registry: reg})
	hc := NewHealthChecker(reg, HealthOptions{Interval: time.Hour})
	hc.Update(tab)
	hc.CheckNow(context.Background())
	ups := tab.Route("r").Upstreams()
	if !ups[0].State().Healthy() || ups[1].State().Healthy() || ups[2].State().Healthy() {
		t.Fatalf("healthy: tls %v, verified against system roots %v, plain %v; want true false false",
			ups[0].State().Healthy(), ups[1].State().Healthy(), ups[2].State().Healthy())
	}
}

// TestHealthCheckHTTP2: targets with protocol HTTP/2.0 are checked in HTTP/2, as the engine
// speaks to them: h2c with prior knowledge in plaintext, ALPN h2 over TLS. A server that only
// speaks h2c is unhealthy for an HTTP/1.1 target and healthy for an HTTP/2.0 one.
func TestHealthCheckHTTP2(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || r.URL.Path != "/health" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(204)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Server{Handler: h, Protocols: &p, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = h2c.Serve(ln) }()
	t.Cleanup(func() { _ = h2c.Close() })
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plainPort := ln.Addr().(*net.TCPAddr).Port
	tlsPort := tlsSrv.Listener.Addr().(*net.TCPAddr).Port
	js := fmt.Sprintf(`[{"id":"r","frontend":{"domains":["h.com"]},"backend":{"health_check":{"enabled":true,"url":"/health","timeout":2000},"targets":[
		{"id":"h2c","hostname":"127.0.0.1","port":%d,"protocol":"HTTP/2.0"},
		{"id":"h1","hostname":"127.0.0.1","port":%d,"protocol":"HTTP/1.1"},
		{"id":"h2","hostname":"127.0.0.1","port":%d,"protocol":"HTTP/2.0","tls":true,"tls_config":{"trust_all":true}}]}}]`, plainPort, plainPort, tlsPort)
	reg := NewRegistry()
	tab := mustCompile(t, js, CompileOptions{Registry: reg})
	hc := NewHealthChecker(reg, HealthOptions{Interval: time.Hour})
	hc.Update(tab)
	hc.CheckNow(context.Background())
	ups := tab.Route("r").Upstreams()
	if !ups[0].State().Healthy() || ups[1].State().Healthy() || !ups[2].State().Healthy() {
		t.Fatalf("healthy: h2c %v, HTTP/1.1 to an h2c-only server %v, h2 over TLS %v; want true false true",
			ups[0].State().Healthy(), ups[1].State().Healthy(), ups[2].State().Healthy())
	}
}
