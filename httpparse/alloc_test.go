//go:build !race

package httpparse

import "testing"

func TestZeroAllocs(t *testing.T) {
	var arr [maxTestFields]Header
	var req Request
	var resp Response
	var d ChunkedDecoder
	reqCases := map[string]string{"browser": browserRequest, "curl": curlRequest, "chunked": chunkedHead + chunkedBody}
	for name, in := range reqCases {
		buf := []byte(in)
		allocs := testing.AllocsPerRun(100, func() {
			req.Headers = arr[:0]
			n, err := ParseRequest(buf, &req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := req.Lookup(buf, "host"); !ok {
				t.Fatal("no host")
			}
			if req.Framing == FramingChunked {
				d.Reset()
				for rest := buf[n:]; !d.Done(); {
					k, _, _, err := d.Decode(rest)
					if err != nil {
						t.Fatal(err)
					}
					rest = rest[k:]
				}
			}
		})
		if allocs != 0 {
			t.Errorf("%s request: %v allocs per parse, want 0", name, allocs)
		}
	}
	buf := []byte(responseHead)
	allocs := testing.AllocsPerRun(100, func() {
		resp.Headers = arr[:0]
		if _, err := ParseResponse(buf, &resp, nil); err != nil {
			t.Fatal(err)
		}
		if resp.BodyFraming(MethodGet) != FramingLength {
			t.Fatal("framing")
		}
	})
	if allocs != 0 {
		t.Errorf("response: %v allocs per parse, want 0", allocs)
	}
	// Rejections return sentinels: no allocation either.
	bad := []byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
	allocs = testing.AllocsPerRun(100, func() {
		req.Headers = arr[:0]
		if _, err := ParseRequest(bad, &req, nil); err != ErrConflictingContentLength {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("rejection: %v allocs per parse, want 0", allocs)
	}
	// So does asking for more.
	partial := []byte(browserRequest[:300])
	allocs = testing.AllocsPerRun(100, func() {
		req.Headers = arr[:0]
		if _, err := ParseRequest(partial, &req, nil); err != ErrNeedMore {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ErrNeedMore: %v allocs per parse, want 0", allocs)
	}
	// Path normalisation, fast path and in place.
	for _, p := range []string{"/api/v1/users/42", "/x/../%61pi//v1/./users"} {
		path := []byte(p)
		allocs = testing.AllocsPerRun(100, func() {
			copy(path, p)
			if _, err := NormalizePath(path[:0], path); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("NormalizePath(%q): %v allocs, want 0", p, allocs)
		}
	}
}
