package core

import (
	"testing"

	"github.com/torii-gateway/torii/httpparse"
)

// TestGRPCStatusParsing: grpc-status from a trailer element (the chunked body's last element)
// and from a response head, plus one; 0 when absent or not a code; no allocation.
func TestGRPCStatusParsing(t *testing.T) {
	for _, c := range []struct {
		elem string
		want uint8
	}{
		{"\r\n", 0},
		{"grpc-status: 0\r\n\r\n", 1},
		{"Grpc-Message: no\r\nGRPC-STATUS:14\r\n\r\n", 15},
		{"grpc-status-details-bin: x\r\ngrpc-status:  5 \r\n\r\n", 6},
		{"x-grpc-status: 3\r\n\r\n", 0},
		{"grpc-status: abc\r\n\r\n", 0},
		{"grpc-status: 255\r\n\r\n", 0},
		{"grpc-status:\r\n\r\n", 0},
	} {
		if got := grpcStatusInTrailer([]byte(c.elem)); got != c.want {
			t.Errorf("trailer %q: %d, want %d", c.elem, got, c.want)
		}
	}
	buf := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nGrpc-Status: 7\r\nContent-Length: 0\r\n\r\n")
	var resp httpparse.Response
	var hdr [8]httpparse.Header
	resp.Headers = hdr[:0]
	if _, err := httpparse.ParseResponse(buf, &resp, &httpparse.Limits{}); err != nil {
		t.Fatal(err)
	}
	if g := grpcStatusOf(&resp, buf); g != 8 {
		t.Errorf("head: %d, want 8", g)
	}
	elem := []byte("grpc-status: 0\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { grpcStatusInTrailer(elem); grpcStatusOf(&resp, buf) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}
