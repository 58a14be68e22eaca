package core_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

// h2cClient is Go's HTTP/2 client with prior knowledge to addr, without transparent gzip.
func h2cClient(addr string) *http.Client {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Protocols: &protos, DisableCompression: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
	}}
}

// GzipResponseCompressor over HTTP/2: a small body of known length is compressed on the loop
// (the stream gets gzip); a larger one, which HTTP/1.1 compresses on a pump, goes uncompressed
// (a stream never moves to a pump) but whole.
func TestGzipOverHTTP2(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		_, _ = w.Write(gzipBody(n))
	}))
	srv := startProxy(t, core.Config{HTTP2: core.HTTP2Config{Enabled: true, H2C: true}})
	publishRoutes(t, srv, nil, 2, withPlugins(testRoute("gz.test", be), "GzipResponseCompressor",
		`{"allowed_list":["text/*"],"min_length":100,"compression_level":6}`))
	cl := h2cClient(srv.Addr().String())
	for _, c := range []struct {
		n    int
		gzip bool
	}{{1000, true}, {200 << 10, false}} {
		req, _ := http.NewRequest("GET", "http://gz.test/?n="+strconv.Itoa(c.n), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("%d bytes: %s", c.n, resp.Proto)
		}
		got := string(b)
		if enc := resp.Header.Get("Content-Encoding"); (enc == "gzip") != c.gzip {
			t.Errorf("%d bytes: Content-Encoding %q, want gzip %v", c.n, enc, c.gzip)
		} else if c.gzip {
			got = gunzip(t, got)
		}
		if got != string(gzipBody(c.n)) {
			t.Errorf("%d bytes: body differs (%d bytes)", c.n, len(got))
		}
	}
}
