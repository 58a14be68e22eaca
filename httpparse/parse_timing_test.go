package httpparse

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs the benchmark loop and reports, next to ns/op, the CPU time
// per op ("cpu-ns/op"): on a shared, overloaded machine wall time also
// counts the time the benchmark waited for a core, CPU time does not.
func measure(b *testing.B, loop func()) {
	start := cpuTime()
	loop()
	if b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

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
	measure(b, func() {
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
	measure(b, func() {
		for b.Loop() {
			br.Reset(buf)
			r.Reset(br)
			if _, err := http.ReadRequest(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchFastHTTPRequest(b *testing.B, in string) {
	buf := []byte(in)
	br := bytes.NewReader(buf)
	r := bufio.NewReaderSize(br, 4096)
	var h fasthttp.RequestHeader
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	measure(b, func() {
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
	measure(b, func() {
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
	measure(b, func() {
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
	buf := []byte(responseHead)
	br := bytes.NewReader(buf)
	r := bufio.NewReaderSize(br, 4096)
	var h fasthttp.ResponseHeader
	b.ReportAllocs()
	b.SetBytes(int64(len(responseHead)))
	measure(b, func() {
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

// The chunked-body benchmarks decode the same body with ChunkedDecoder and
// with net/http's chunked reader (httputil.NewChunkedReader).
func BenchmarkChunkedBody(b *testing.B) {
	buf := []byte(chunkedBody)
	var d ChunkedDecoder
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	measure(b, func() {
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
	measure(b, func() {
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
