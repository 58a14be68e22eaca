package core_test

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/route"
)

// notFiringPlugins are ten plugins configured so that the benchmark's GET
// /hello with Host, User-Agent passes them all without a change: the
// "configured, not firing" cost of issue 19.
var notFiringPlugins = []string{
	"Cors", `{"allow_origin":"*","allow_methods":["GET"],"excluded_patterns":["/.*"]}`,
	"IpAddressBlockList", `{"addresses":["192.168.0.0/16","172.16.0.0/12"]}`,
	"IpAddressAllowedList", `{"addresses":["127.0.0.0/8","::1"]}`,
	"ReadOnlyCalls", `{}`,
	"AllowHttpMethods", `{"allowed":["GET","HEAD"]}`,
	"DisableHttp10", `{}`,
	"HeadersValidation", `{"headers":{"User-Agent":"Contains(bench)"}}`,
	"RemoveHeadersIn", `{"header_names":["X-Secret"]}`,
	"RemoveHeadersOut", `{"header_names":["X-Powered-By"]}`,
	"MissingHeadersIn", `{"headers":{"User-Agent":"none"}}`,
}

// notFiringRoute is quickRoute to the targets with notFiringPlugins.
func notFiringRoute(tb testing.TB, targets ...string) route.Route {
	return withPlugins(quickRoute(tb, targets...), notFiringPlugins...)
}

// benchRoute is BenchmarkProxyGet's measurement on r, published as the plugin benchmarks are
// (BuildSnapshot): one loop, small GETs with keep-alive.
func benchRoute(b *testing.B, r route.Route) {
	srv := startProxy(b, core.Config{Loops: 1})
	publishRoutes(b, srv, nil, 2, r)
	bc := newBenchClient(b, srv.Addr().String())
	sendRequests(b, bc, 1000)
}

// BenchmarkProxyGetPluginsNotFiring is BenchmarkProxyGet on a route with
// notFiringPlugins; compare with BenchmarkProxyGet in the same run.
func BenchmarkProxyGetPluginsNotFiring(b *testing.B) {
	be := startFixedBackend(b)
	benchRoute(b, notFiringRoute(b, be))
}

// BenchmarkProxyGetPluginsFiring: AdditionalHeadersIn/Out with
// expressions, OtoroshiInfos (HS512 Latest claim) and Cors fields on every
// response.
func BenchmarkProxyGetPluginsFiring(b *testing.B) {
	be := startFixedBackend(b)
	srv := startProxy(b, core.Config{Loops: 1})
	publishRoutes(b, srv, nil, 2, withPlugins(quickRoute(b, be),
		"AdditionalHeadersIn", `{"headers":{"X-Req":"${req.id}","X-Ip":"${req.ip}"}}`,
		"AdditionalHeadersOut", `{"headers":{"X-Route":"${route.name}"}}`,
		"OtoroshiInfos", `{"version":"Latest"}`,
		"Cors", `{"allow_origin":"*","allow_methods":["GET"]}`))
	bc := newBenchClientTail(b, srv.Addr().String(), "Hello, World!")
	sendRequests(b, bc, 1000)
}

// BenchmarkProxyGetPublished is BenchmarkProxyGet published as the plugin
// benchmarks are (BuildSnapshot), without plugins: their baseline.
func BenchmarkProxyGetPublished(b *testing.B) {
	be := startFixedBackend(b)
	benchRoute(b, quickRoute(b, be))
}

// BenchmarkProxyGetJwtVerification: every request carries an HS512 token
// that a JwtVerification (PassThrough, one required claim) verifies.
func BenchmarkProxyGetJwtVerification(b *testing.B) {
	be := startFixedBackend(b)
	srv := startProxy(b, core.Config{Loops: 1})
	publishWithVerifiers(b, srv, []string{`{"type":"global","id":"hs","source":{"type":"InHeader","name":"Authorization","remove":"Bearer "},
		"algoSettings":{"type":"HSAlgoSettings","size":512,"secret":"s3cret"},
		"strategy":{"type":"PassThrough","verificationSettings":{"fields":{"iss":"corp"}}}}`},
		withPlugins(quickRoute(b, be), "JwtVerification", `{"verifiers":["hs"]}`))
	tok := hs512(b, "s3cret", jwt.MapClaims{"iss": "corp", "sub": "bench"})
	bc := newBenchClientFor(b, srv.Addr().String(), "GET /hello HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: torii-bench\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
	sendRequests(b, bc, 1000)
}

// BenchmarkProxyGetCanary: CanaryMode sending every client to the canary,
// with a new canary id and cookie per request.
func BenchmarkProxyGetCanary(b *testing.B) {
	be := startFixedBackend(b)
	host, port, _ := strings.Cut(be, ":")
	benchRoute(b, withPlugins(quickRoute(b, be), "CanaryMode",
		`{"traffic":1,"targets":[{"id":"c","hostname":"`+host+`","port":`+port+`}]}`))
}

// BenchmarkProxyGetGzip: GzipResponseCompressor firing on the 13-byte
// text/plain answer (pump hand-over, pooled compressor, chunked gzip
// stream); compare with BenchmarkProxyGetGzipNotFiring (same route, no
// Accept-Encoding) in the same run.
func BenchmarkProxyGetGzip(b *testing.B) {
	benchGzip(b, "Accept-Encoding: gzip\r\n", "0\r\n\r\n")
}

func BenchmarkProxyGetGzipNotFiring(b *testing.B) { benchGzip(b, "", "Hello, World!") }

// BenchmarkProxyGetGzip64K is BenchmarkProxyGetGzip on a 64 KiB body.
func BenchmarkProxyGetGzip64K(b *testing.B) {
	be := startFixedBackendWith(b, bytes.Replace(largeResponse, []byte("application/octet-stream"), []byte("text/plain"), 1))
	srv := startProxy(b, core.Config{Loops: 1})
	publishRoutes(b, srv, nil, 2, withPlugins(quickRoute(b, be), "GzipResponseCompressor", `{"compression_level":1}`))
	bc := newBenchClientReq(b, srv.Addr().String(), "GET /hello HTTP/1.1\r\nHost: bench.test\r\nAccept-Encoding: gzip\r\n\r\n", "0\r\n\r\n")
	// The compressed length varies with how the body's reads were batched
	// (one flushed chunk per batch): read to the last chunk only.
	bc.respLen = 64
	sendRequests(b, bc, 200)
}

func benchGzip(b *testing.B, ae, tail string) {
	be := startFixedBackend(b)
	srv := startProxy(b, core.Config{Loops: 1})
	publishRoutes(b, srv, nil, 2, withPlugins(quickRoute(b, be), "GzipResponseCompressor", `{}`))
	bc := newBenchClientReq(b, srv.Addr().String(), "GET /hello HTTP/1.1\r\nHost: bench.test\r\n"+ae+"\r\n", tail)
	sendRequests(b, bc, 1000)
}

// newBenchClientReq is newBenchClientFor with the response's tail given.
func newBenchClientReq(tb testing.TB, addr, req, tail string) *benchClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	bc := &benchClient{c: c, req: []byte(req), tail: []byte(tail), buf: make([]byte, 256<<10)}
	if _, err := c.Write(bc.req); err != nil {
		tb.Fatal(err)
	}
	n := 0
	for !bytes.HasSuffix(bc.buf[:n], bc.tail) {
		m, err := c.Read(bc.buf[n:])
		if err != nil {
			tb.Fatalf("cannot read the first response (%q): %v", bc.buf[:n], err)
		}
		n += m
	}
	bc.respLen = n
	return bc
}
