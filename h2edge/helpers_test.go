package h2edge_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/h2edge"
	"github.com/torii-gateway/torii/internal/sockpair"
	"github.com/torii-gateway/torii/internal/testkit"
	"github.com/torii-gateway/torii/pki"
	"github.com/torii-gateway/torii/proxyproto"
	"github.com/torii-gateway/torii/tlsedge"
)

// onLoops makes newEnv serve HTTP/2 with the engine's own server (core.Config.HTTP2, h2c on
// the engine's listener) instead of an h2edge.Server; set by bothServers. overTLS, with
// onLoops, puts a TLS listener (package tlsedge, ALPN h2) with that relay mode in front.
var (
	onLoops bool
	overTLS string
)

// bothServers runs f against h2edge and against the engine's own HTTP/2 server ("loops"),
// which must pass the same tests: over h2c, and over TLS with both ways TLS connections reach
// the engine (the record layer on the loops, tlsedge.RelayLoop, and a socketpair relayed by
// the pollers, tlsedge.RelayPoller).
func bothServers(t *testing.T, f func(t *testing.T)) {
	for _, impl := range []string{"h2edge", "loops", "loops-tls-" + tlsedge.RelayLoop, "loops-tls-" + tlsedge.RelayPoller} {
		t.Run(impl, func(t *testing.T) {
			onLoops = impl != "h2edge"
			overTLS = strings.TrimPrefix(impl, "loops-tls-")
			if overTLS == impl {
				overTLS = ""
			}
			defer func() { onLoops, overTLS = false, "" }()
			f(t)
		})
	}
}

// env is an engine with one route to a counting backend, an h2edge.Server on a plaintext
// listener (h2c with prior knowledge) and the events the engine recorded; with onLoops, the
// engine itself serves h2c on its listener (h2 is nil).
type env struct {
	srv    *core.Server
	h2     *h2edge.Server
	addr   string // h2c listener, or the TLS listener with overTLS
	scheme string // what the backend sees in X-Forwarded-Proto
	// tlsClient dials addr with overTLS (ALPN h2); nil for h2c.
	tlsClient *tls.Config
	backend   string
	hits      atomic.Int64 // complete requests the backend received
	enrolls   atomic.Int64 // socketpairs enrolled into the engine
	events    string
	mu        sync.Mutex
	last      *http.Request // last request the backend saw (head only)
	lastB     []byte
}

func newEnv(t testing.TB, cfg h2edge.Config) *env {
	t.Helper()
	e := &env{}
	e.backend = testkit.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return // a request cut short (its stream failed): not a request the backend serves
		}
		e.hits.Add(1)
		e.mu.Lock()
		e.last, e.lastB = r, b
		e.mu.Unlock()
		switch r.URL.Path {
		case "/trailers":
			w.Header().Set("Trailer", "X-Sum")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
			return
		case "/stream":
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
			return
		case "/big": // 48 MiB as fast as the gateway takes it
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			for range 48 << 20 / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			return
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		}
		fmt.Fprintf(w, "proto=%s host=%s xff=%s xfp=%s len=%d body=%s", r.Proto, r.Host,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.ContentLength, b)
	}))
	loops := 1
	set := metric.NewSet(loops)
	hub := event.NewHub(event.Options{Loops: loops, Metrics: set, PollInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	e.events = filepath.Join(t.TempDir(), "events.ndjson")
	ec := event.DefaultExporterConfig()
	ec.ID, ec.Type, ec.Enabled, ec.GroupDuration = "file", event.TypeFile, true, 10
	ec.Config = json.RawMessage(fmt.Sprintf(`{"path":%q,"maxFileSize":67108864,"maxNumberOfFile":1}`, e.events))
	if err := hub.SetExporters([]event.ExporterConfig{ec}); err != nil {
		t.Fatal(err)
	}
	ccfg := core.Config{Listen: "127.0.0.1:0", Loops: loops, Events: hub, Metrics: set,
		Logger: slog.New(slog.DiscardHandler)}
	if onLoops {
		ccfg.HTTP2 = engineH2(cfg)
	}
	srv, err := core.NewServer(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(e.backend)
	r := route.Route{ID: "r", Name: "r", Enabled: true, Groups: []string{"default"},
		Frontend: route.Frontend{Domains: []string{"h2.test"}},
		Backend: route.Backend{Root: "/", LoadBalancing: route.LoadBalancing{Type: "RoundRobin"}, Client: route.DefaultClientConfig(),
			Targets: []route.Target{{ID: "t", Hostname: ap.Addr().String(), Port: int(ap.Port()), Weight: 1, Protocol: "HTTP/1.1"}}}}
	table, err := route.Compile([]route.Route{r}, route.CompileOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(&core.Snapshot{Routes: table, Version: 1})
	testkit.Run(t, "proxy", srv.Run, srv.Ready())
	e.srv = srv
	e.scheme = "http"
	if overTLS != "" {
		e.serveTLS(t)
		return e
	}
	if onLoops {
		e.addr = srv.Addr().String()
		return e
	}
	cfg.Enroll = func(nc net.Conn) error { e.enrolls.Add(1); return srv.Enroll(nc, nil) }
	if e.h2, err = h2edge.New(cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	e.addr = ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go e.h2.Serve(c, proxyproto.Info{Src: netip.MustParseAddrPort(c.RemoteAddr().String()),
				Dst: netip.MustParseAddrPort(c.LocalAddr().String())})
		}
	}()
	return e
}

// serveTLS puts a TLS listener in front of the engine, with relay mode overTLS, as torii does
// with --listen-tls: a certificate for h2.test, ALPN h2 served by the engine.
func (e *env) serveTLS(t testing.TB) {
	t.Helper()
	m, err := pki.Mint(pki.MintOptions{CommonName: "h2.test", Hosts: []string{"h2.test"}})
	if err != nil {
		t.Fatal(err)
	}
	chain, key, err := pki.Check(m.ChainPEM, m.KeyPEM, time.Now(), true)
	if err != nil {
		t.Fatal(err)
	}
	pair := pki.Pair(chain, key)
	ts, err := tlsedge.New(tlsedge.Config{
		Enroll: func(nc net.Conn) error { e.enrolls.Add(1); return e.srv.Enroll(nc, nil) },
		EnrollLoop: func(nc net.Conn, tc *tls.Conn, rec *sockpair.Conn, in *proxyproto.Info, done func()) error {
			e.enrolls.Add(1)
			return e.srv.EnrollTLS(nc, tc, rec, &core.ClientInfo{Addr: in.Src, TLS: true, ALPN: in.ALPN,
				ServerName: in.Authority, TLSVersion: in.TLSVersion, Cipher: in.Cipher}, done)
		},
		NextProtos: []string{"h2", "http/1.1"},
		Relay:      overTLS,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.SetTable(tlsedge.NewTable([]tlsedge.Cert{{ID: "h2", Names: []string{"h2.test"}, Pair: &pair}}, tlsedge.TableOptions{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ts.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	e.addr = ln.Addr().String()
	e.scheme = "https"
	e.tlsClient = &tls.Config{ServerName: "h2.test", InsecureSkipVerify: true, NextProtos: []string{"h2"}}
}

// engineH2 is the engine's HTTP/2 configuration with cfg's limits, h2c on.
func engineH2(cfg h2edge.Config) core.HTTP2Config {
	return core.HTTP2Config{Enabled: true, H2C: true, MaxConcurrentStreams: cfg.MaxConcurrentStreams,
		MaxHeaderListSize: cfg.MaxHeaderListSize, StreamWindow: cfg.StreamWindow, ConnWindow: cfg.ConnWindow,
		IdleTimeout: cfg.IdleTimeout, PingAfter: cfg.PingAfter, PingTimeout: cfg.PingTimeout, WriteTimeout: cfg.WriteTimeout}
}

// client is Go's HTTP/2 client speaking h2c with prior knowledge to the env, or HTTP/2 over
// TLS with overTLS (the tests' http:// URLs are then sent as https://).
func (e *env) client() *http.Client {
	if e.tlsClient != nil {
		tr := &http.Transport{TLSClientConfig: e.tlsClient.Clone(), ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", e.addr)
			}}
		return &http.Client{Timeout: 10 * time.Second, Transport: httpsOnly{tr}}
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Protocols: &protos,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", e.addr)
		},
	}}
}

// httpsOnly sends every request as https.
type httpsOnly struct{ rt http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme = "https"
	return h.rt.RoundTrip(r)
}

// waitEvents waits for n events and returns them.
func (e *env) waitEvents(t *testing.T, n int) []map[string]any {
	return testkit.WaitEvents(t, e.events, n)
}
