package httpparse

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"runtime"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// The request-head benchmarks parse the same bytes three ways in one run:
// this package, net/http (http.ReadRequest) and fasthttp (RequestHeader.Read).
// The baselines read through a bufio.Reader over a bytes.Reader, both reset
// per iteration, which is how they meet bytes in a server.

func benchRequest(b *testing.B, in string) {
	buf := []byte(in)
	var arr [maxTestFields]Header
	var req Request
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			req.Headers = arr[:0]
			if _, err := ParseRequest(buf, &req, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchNetHTTPRequest(b *testing.B, in string) {
	buf := []byte(in)
	br := bytes.NewReader(buf)
	r := bufio.NewReaderSize(br, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			br.Reset(buf)
			r.Reset(br)
			if _, err := http.ReadRequest(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchFastHTTPRequest(b *testing.B, in string) { benchFastHTTP(b, in, &fasthttp.RequestHeader{}) }

// benchFastHTTP reads the head in with fasthttp's header h (a request or a
// response header), reset each time as a fasthttp server does.
func benchFastHTTP(b *testing.B, in string, h interface {
	Reset()
	Read(*bufio.Reader) error
}) {
	buf := []byte(in)
	br := bytes.NewReader(buf)
	r := bufio.NewReaderSize(br, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			br.Reset(buf)
			r.Reset(br)
			h.Reset()
			if err := h.Read(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRequestBrowser(b *testing.B)         { benchRequest(b, browserRequest) }
func BenchmarkRequestBrowserNetHTTP(b *testing.B)  { benchNetHTTPRequest(b, browserRequest) }
func BenchmarkRequestBrowserFastHTTP(b *testing.B) { benchFastHTTPRequest(b, browserRequest) }
func BenchmarkRequestCurl(b *testing.B)            { benchRequest(b, curlRequest) }
func BenchmarkRequestCurlNetHTTP(b *testing.B)     { benchNetHTTPRequest(b, curlRequest) }
func BenchmarkRequestCurlFastHTTP(b *testing.B)    { benchFastHTTPRequest(b, curlRequest) }
func BenchmarkRequestChunked(b *testing.B)         { benchRequest(b, chunkedHead) }
func BenchmarkRequestChunkedNetHTTP(b *testing.B)  { benchNetHTTPRequest(b, chunkedHead) }
func BenchmarkRequestChunkedFastHTTP(b *testing.B) { benchFastHTTPRequest(b, chunkedHead) }

func BenchmarkResponse(b *testing.B) {
	buf := []byte(responseHead)
	var arr [maxTestFields]Header
	var resp Response
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			resp.Headers = arr[:0]
			if _, err := ParseResponse(buf, &resp, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkResponseNetHTTP(b *testing.B) {
	buf := []byte(responseHead)
	br := bytes.NewReader(buf)
	r := bufio.NewReaderSize(br, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(responseHead)))
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			br.Reset(buf)
			r.Reset(br)
			if _, err := http.ReadResponse(r, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkResponseFastHTTP(b *testing.B) {
	benchFastHTTP(b, responseHead, &fasthttp.ResponseHeader{})
}

// The chunked-body benchmarks decode the same body with ChunkedDecoder and
// with net/http's chunked reader (httputil.NewChunkedReader).
func BenchmarkChunkedBody(b *testing.B) {
	buf := []byte(chunkedBody)
	var d ChunkedDecoder
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			d.Reset()
			for rest := buf; !d.Done(); {
				n, _, _, err := d.Decode(rest)
				if err != nil {
					b.Fatal(err)
				}
				rest = rest[n:]
			}
		}
	})
}

func BenchmarkChunkedBodyNetHTTP(b *testing.B) {
	buf := []byte(chunkedBody)
	br := bytes.NewReader(buf)
	r := bufio.NewReaderSize(br, 4096)
	var sink [512]byte
	b.ReportAllocs()
	b.SetBytes(int64(len(chunkedBody)))
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			br.Reset(buf)
			r.Reset(br)
			cr := httputil.NewChunkedReader(r)
			for {
				_, err := cr.Read(sink[:])
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// benchPair runs this parser (ours) and a baseline (base) in alternating
// blocks on one locked OS thread and reports the thread CPU time per op of
// each and their ratio ("x-faster"). Both see the same machine conditions,
// which separate benchmarks on a shared, overloaded host do not. ns/op is for
// one op of each.
func benchPair(b *testing.B, ours, base func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const block = 1024
	var tOurs, tBase time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += block {
		t0 := threadCPU()
		for k := 0; k < block; k++ {
			ours()
		}
		t1 := threadCPU()
		for k := 0; k < block; k++ {
			base()
		}
		tOurs, tBase = tOurs+t1-t0, tBase+threadCPU()-t1
	}
	ops := float64((b.N + block - 1) / block * block)
	b.ReportMetric(float64(tOurs)/ops, "ours-cpu-ns/op")
	b.ReportMetric(float64(tBase)/ops, "base-cpu-ns/op")
	b.ReportMetric(float64(tBase)/float64(tOurs), "x-faster")
}

// threadCPU returns the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// oursRequest returns a function that parses in with ParseRequest.
func oursRequest(b *testing.B, in string) func() {
	buf := []byte(in)
	var arr [maxTestFields]Header
	var req Request
	return func() {
		req.Headers = arr[:0]
		if _, err := ParseRequest(buf, &req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// fastHTTPRequest returns a function that parses in with fasthttp.
func fastHTTPRequest(b *testing.B, in string) func() {
	buf := []byte(in)
	br := bytes.NewReader(buf)
	r := bufio.NewReaderSize(br, 4096)
	var h fasthttp.RequestHeader
	return func() {
		br.Reset(buf)
		r.Reset(br)
		h.Reset()
		if err := h.Read(r); err != nil {
			b.Fatal(err)
		}
	}
}

// netHTTPRequest returns a function that parses in with net/http.
func netHTTPRequest(b *testing.B, in string) func() {
	buf := []byte(in)
	br := bytes.NewReader(buf)
	r := bufio.NewReaderSize(br, 4096)
	return func() {
		br.Reset(buf)
		r.Reset(br)
		if _, err := http.ReadRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPairRequest(b *testing.B) {
	for _, in := range []struct{ name, s string }{{"browser", browserRequest}, {"curl", curlRequest}, {"chunked", chunkedHead}} {
		b.Run(in.name+"/fasthttp", func(b *testing.B) { benchPair(b, oursRequest(b, in.s), fastHTTPRequest(b, in.s)) })
		b.Run(in.name+"/nethttp", func(b *testing.B) { benchPair(b, oursRequest(b, in.s), netHTTPRequest(b, in.s)) })
	}
}

func BenchmarkPairResponse(b *testing.B) {
	buf := []byte(responseHead)
	var arr [maxTestFields]Header
	var resp Response
	ours := func() {
		resp.Headers = arr[:0]
		if _, err := ParseResponse(buf, &resp, nil); err != nil {
			b.Fatal(err)
		}
	}
	br := bytes.NewReader(buf)
	r := bufio.NewReaderSize(br, 4096)
	var h fasthttp.ResponseHeader
	b.Run("fasthttp", func(b *testing.B) {
		benchPair(b, ours, func() {
			br.Reset(buf)
			r.Reset(br)
			h.Reset()
			if err := h.Read(r); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("nethttp", func(b *testing.B) {
		benchPair(b, ours, func() {
			br.Reset(buf)
			r.Reset(br)
			if _, err := http.ReadResponse(r, nil); err != nil {
				b.Fatal(err)
			}
		})
	})
}
