package h2edge_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/torii-gateway/torii/h2edge"
)

// BenchmarkH2Get is one small GET over HTTP/2 (h2c, Go's client, one connection) through h2edge
// and the engine to an HTTP/1.1 backend, against BenchmarkH1Get, the same GET over HTTP/1.1
// straight to the engine. allocs/op count the whole process: client, h2edge, engine, backend.
//
//	go test ./h2edge -run XXX -bench 'Get$' -benchtime 2000x -count 3
func BenchmarkH2Get(b *testing.B) {
	e := newEnv(b, h2edge.Config{})
	benchGet(b, e.client())
	b.ReportMetric(float64(e.enrolls.Load())/float64(b.N), "enrolls/op")
}

// BenchmarkH1Get is the HTTP/1.1 baseline of BenchmarkH2Get.
func BenchmarkH1Get(b *testing.B) {
	e := newEnv(b, h2edge.Config{})
	addr := e.srv.Addr().String()
	benchGet(b, &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}}})
}

func benchGet(b *testing.B, cl *http.Client) {
	b.ReportAllocs()
	for b.Loop() {
		resp, err := cl.Get("http://h2.test/")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
}
