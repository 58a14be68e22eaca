package core_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/testkit"
)

// startProxy runs a Server over routes until the test ends, on a free
// loopback port unless cfg.Listen is set.
func startProxy(t testing.TB, cfg core.Config, routes ...route.Route) *core.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
		if os.Getenv("TORII_TEST_LOG") != "" {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	srv, err := core.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	table, err := route.Compile(routes, route.CompileOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(&core.Snapshot{Routes: table, Version: 1})
	testkit.Run(t, "proxy", srv.Run, srv.Ready())
	return srv
}

// testRoute routes domain to the targets ("host:port"), with the client
// timeouts of the route set to cl when given.
func testRoute(domain string, targets ...string) route.Route {
	r := route.Route{
		ID: "route_" + strings.NewReplacer("*", "any", "/", "_", ".", "_").Replace(domain), Name: domain,
		Enabled:  true,
		Groups:   []string{"default"},
		Frontend: route.Frontend{Domains: []string{domain}},
		Backend: route.Backend{
			Root:          "/",
			LoadBalancing: route.LoadBalancing{Type: "RoundRobin"},
			Client:        route.DefaultClientConfig(),
		},
	}
	for i, hp := range targets {
		ap := netip.MustParseAddrPort(hp)
		r.Backend.Targets = append(r.Backend.Targets, route.Target{
			ID: "t" + strconv.Itoa(i), Hostname: ap.Addr().String(), Port: int(ap.Port()), Weight: 1, Protocol: "HTTP/1.1",
		})
	}
	return r
}

// startBackend runs a net/http backend on a free loopback port.
func startBackend(t testing.TB, h http.Handler) string {
	t.Helper()
	return testkit.Backend(t, h)
}

// startRawBackend runs a TCP backend whose every connection is served by fn.
func startRawBackend(t testing.TB, fn func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveRaw(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		fn(c)
	})
}

// serveRaw serves every connection ln accepts with fn on its own goroutine (closing it after),
// until the test ends; it returns ln's address.
func serveRaw(t testing.TB, ln net.Listener, fn func(c net.Conn)) string {
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fn(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// readRequestHead reads one request head from br and returns it.
func readRequestHead(br *bufio.Reader) (*http.Request, error) {
	return http.ReadRequest(br)
}

// dial opens a raw client connection to the proxy with a 10 s deadline.
func dial(t testing.TB, srv *core.Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dialErr opens a raw client connection to the proxy, returning the error.
func dialErr(srv *core.Server) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", srv.Addr().String(), 2*time.Second)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	}
	return c, err
}

// roundTrip sends raw on c and reads one response for method.
func roundTrip(t testing.TB, c net.Conn, br *bufio.Reader, raw, method string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readResponse(t, br, method)
}

func readResponse(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("cannot read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("cannot read response body: %v", err)
	}
	return resp, string(body)
}

// client returns an HTTP client that talks to the proxy at srv whatever the URL host.
func client(srv *core.Server) *http.Client {
	addr := srv.Addr().String()
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			},
		},
	}
}
