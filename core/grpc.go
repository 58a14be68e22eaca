package core

import (
	"bytes"

	"github.com/torii-gateway/torii/httpparse"
)

// gRPC status in events. A gRPC call ends with grpc-status in the response's trailers (the
// last element of a chunked body as the h2up bridge writes it), or in its headers for a
// trailers-only response. Only exchanges with an HTTP/2 target (upstreamConn.h2) are looked
// at, so plain HTTP/1.1 exchanges pay nothing. The status is kept plus one in
// exchangeObs.grpc, 0 meaning none.

// grpcStatusOf returns the grpc-status of a response head parsed from buf, plus one, or 0.
func grpcStatusOf(resp *httpparse.Response, buf []byte) uint8 {
	v, ok := resp.Lookup(buf, "grpc-status")
	if !ok {
		return 0
	}
	return grpcCode(v.Bytes(buf))
}

// grpcStatusInTrailer returns the grpc-status of elem, the last element of a chunked body
// (trailer field lines, then CRLF), plus one, or 0. Does not allocate.
func grpcStatusInTrailer(elem []byte) uint8 {
	for len(elem) > 0 {
		e := bytes.IndexByte(elem, '\n')
		if e < 0 {
			return 0
		}
		line := elem[:e]
		elem = elem[e+1:]
		colon := bytes.IndexByte(line, ':')
		if colon == len("grpc-status") && httpparse.EqualFold(line[:colon], "grpc-status") {
			return grpcCode(line[colon+1:])
		}
	}
	return 0
}

// grpcCode parses a grpc-status value (decimal, surrounded by optional whitespace) and returns
// it plus one; 0 for a value that is not a code (gRPC codes are 0 to 16).
func grpcCode(v []byte) uint8 {
	v = bytes.TrimSpace(v)
	n, ok := parseDigits(v) // h2req.go
	if !ok || len(v) > 2 {
		return 0
	}
	return uint8(n + 1)
}
