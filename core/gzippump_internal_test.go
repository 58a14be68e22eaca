package core

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// BenchmarkGzipInline is the loop's time for the largest body compressed
// inline (gzipInlineMax, compressible text) at the default level 5, and for
// a 13-byte body.
func BenchmarkGzipInline(b *testing.B) {
	for _, size := range []int{13, gzipInlineMax} {
		body := bytes.Repeat([]byte("torii gateway otoroshi gzip "), size/28+1)[:size]
		b.Run(map[int]string{13: "13B", gzipInlineMax: "max"}[size], func(b *testing.B) {
			dst := appendGzipBody(nil, body, 5)
			b.ReportAllocs()
			for b.Loop() {
				dst = appendGzipBody(dst[:0], body, 5)
			}
		})
	}
}

func TestAppendGzipBody(t *testing.T) {
	body := bytes.Repeat([]byte("abc"), 3000)
	out := appendGzipBody([]byte("H"), body, 5)
	if out[0] != 'H' || !bytes.HasSuffix(out, lastChunk) {
		t.Fatalf("framing: %q", out)
	}
	// One chunk: size line, data, CRLF.
	i := bytes.Index(out, crlf)
	data := out[i+2 : len(out)-len(lastChunk)-2]
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("decompressed %d bytes, err %v", len(got), err)
	}
	if raceEnabled {
		return // the race detector's instrumentation allocates
	}
	if n := testing.AllocsPerRun(100, func() { out = appendGzipBody(out[:0], body, 5) }); n != 0 {
		t.Errorf("%v allocations per inline compression", n)
	}
}
