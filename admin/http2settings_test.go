package admin

import (
	"net/http"
	"testing"
	"time"
)

// http2Settings (Torii's global object for HTTP/2 to clients) is checked field by field and
// reaches the engine's snapshot as core.Global.HTTP2; without it the flags apply.
func TestGlobalHTTP2Settings(t *testing.T) {
	e := newEnv(t, nil)
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `{"maintenanceMode":false}`})
	if s := e.pub.last(); s == nil || (s.Global != nil && s.Global.HTTP2 != nil) {
		t.Fatalf("HTTP2 set without http2Settings: %+v", s)
	}
	for body, field := range map[string]string{
		`{"http2Settings":{"h2c":"yes"}}`:               "http2Settings.h2c",
		`{"http2Settings":{"maxConcurrentStreams":0}}`:  "http2Settings.maxConcurrentStreams",
		`{"http2Settings":{"streamWindow":4294967296}}`: "http2Settings.streamWindow",
		`{"http2Settings":{"maxHeaderListSize":"32k"}}`: "http2Settings.maxHeaderListSize",
		`{"http2Settings":{"maxStreams":10}}`:           "http2Settings.maxStreams",
		`{"http2Settings":true}`:                        "http2Settings",
	} {
		bad := e.must(http.StatusBadRequest, req{method: "PATCH", path: "/api/globalconfig", body: body})
		fieldsNamed(t, bad, field)
	}
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig",
		body: `{"http2Settings":{"h2c":true,"maxConcurrentStreams":7,"streamWindow":131072,"pingTimeout":1500}}`})
	s := e.pub.last()
	if s == nil || s.Global == nil || s.Global.HTTP2 == nil {
		t.Fatalf("published snapshot without HTTP2: %+v", s)
	}
	if h := s.Global.HTTP2; h.H2C != 1 || h.MaxConcurrentStreams != 7 || h.StreamWindow != 131072 ||
		h.PingTimeout != 1500*time.Millisecond || h.ConnWindow != 0 || h.MaxHeaderListSize != 0 {
		t.Errorf("compiled %+v", *h)
	}
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `{"http2Settings":{"h2c":false}}`})
	// A merge patch: the other fields stay.
	if h := e.pub.last().Global.HTTP2; h == nil || h.H2C != -1 || h.MaxConcurrentStreams != 7 {
		t.Errorf("after h2c false: %+v", h)
	}
}
