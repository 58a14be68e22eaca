package core

import (
	"testing"

	"github.com/torii-gateway/torii/httpparse"
)

// normalizeRequestPath rewrites the path in place and keeps the spans that
// surround it consistent: Target is still one run ending with the query,
// Host (the authority of an absolute-form target) still names the host.
func TestNormalizeRequestPathSpans(t *testing.T) {
	f := func(target, wantPath, wantTarget, wantHost string) {
		t.Helper()
		buf := []byte("GET " + target + " HTTP/1.1\r\nHost: h.test\r\nX-A: 1\r\n\r\n")
		var arr [8]httpparse.Header
		req := httpparse.Request{Headers: arr[:0]}
		if _, err := httpparse.ParseRequest(buf, &req, nil); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if err := normalizeRequestPath(&req, buf); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		got := [...]string{string(req.Path.Bytes(buf)), string(req.Target.Bytes(buf)), string(req.Host.Bytes(buf))}
		if got != [...]string{wantPath, wantTarget, wantHost} {
			t.Errorf("%s: path, target, host = %q, want %q", target, got, [...]string{wantPath, wantTarget, wantHost})
		}
		if v, ok := req.Lookup(buf, "x-a"); !ok || string(v.Bytes(buf)) != "1" {
			t.Errorf("%s: a header field moved", target)
		}
	}
	f("/a/b", "/a/b", "/a/b", "h.test")
	f("//a/./b/../c?q=/../x", "/a/c", "/a/c?q=/../x", "h.test")
	f("/%61?", "/a", "/a?", "h.test")
	f("http://other.test:8080//x/%2e%2e/y?z", "/y", "http://other.test:8080/y?z", "other.test:8080")
	f("http://other.test/a/", "/a/", "http://other.test/a/", "other.test")

	var arr [8]httpparse.Header
	req := httpparse.Request{Headers: arr[:0]}
	buf := []byte("GET /../etc HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, err := httpparse.ParseRequest(buf, &req, nil); err != nil {
		t.Fatal(err)
	}
	if err := normalizeRequestPath(&req, buf); httpparse.StatusOf(err) != 400 {
		t.Errorf("/../etc: %v, want a 400", err)
	}
}
