package plugin

import (
	"strings"
	"testing"

	"github.com/torii-gateway/torii/httpparse"
)

// TestGzipConfigErrors: every bad GzipResponseCompressor field is named.
func TestGzipConfigErrors(t *testing.T) {
	_, err := chainOf(t, "GzipResponseCompressor",
		`{"allowed_list":["text"],"blocked_list":["a/b/c;"],"excluded_patterns":["("],"compression_level":12,"buffer_size":0,"chunked_threshold":-1,"min_length":-5}`)
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"allowed_list[0]", "blocked_list[0]", "excluded_patterns[0]", "compression_level", "buffer_size", "chunked_threshold", "min_length"} {
		if !strings.Contains(err.Error(), "plugins[0].config."+want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	if _, err := chainOf(t, "GzipResponseCompressor", `{}`, "GzipResponseCompressor", `{}`); err == nil || !strings.Contains(err.Error(), "plugins[1]") {
		t.Errorf("two compressors: %v", err)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		fields []string
		want   bool
	}{
		{nil, false}, {[]string{"gzip"}, true}, {[]string{"identity"}, false}, {[]string{"gzip;q=0"}, false},
		{[]string{"*"}, true}, {[]string{"*;q=0"}, false}, {[]string{"br", "gzip"}, true}, {[]string{"gzip;q=0", "*"}, false},
		{[]string{"gzip ; q=0.001"}, true}, {[]string{"gzip;q=1.000"}, true}, {[]string{"gzip;q=2"}, false},
		{[]string{"gzip;q=0.5x"}, false}, {[]string{"deflate, x-gzip;q=0.3"}, true}, {[]string{" , ,gzip"}, true},
		{[]string{"gzipx"}, false},
	} {
		raw := "GET / HTTP/1.1\r\nHost: a\r\n"
		for _, f := range tc.fields {
			raw += "Accept-Encoding: " + f + "\r\n"
		}
		raw += "\r\n"
		var req httpparse.Request
		req.Headers = make([]httpparse.Header, 0, 8)
		if _, err := httpparse.ParseRequest([]byte(raw), &req, &httpparse.Limits{}); err != nil {
			t.Fatal(err)
		}
		if got := AcceptsGzip(req.Headers, []byte(raw)); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.fields, got, tc.want)
		}
	}
}
