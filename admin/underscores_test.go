package admin

import (
	"net/http"
	"testing"
)

// underscoresInHeaders is false by default, is checked as a boolean, and
// reaches the engine's snapshot when set.
func TestGlobalUnderscoresInHeaders(t *testing.T) {
	e := newEnv(t, nil)
	gc := e.must(http.StatusOK, req{method: "GET", path: "/api/globalconfig"})
	if v, ok := gc.obj(t)["underscoresInHeaders"]; !ok || v != false {
		t.Fatalf("default underscoresInHeaders %v (present %v), want false", v, ok)
	}
	bad := e.must(http.StatusBadRequest, req{method: "PATCH", path: "/api/globalconfig", body: `{"underscoresInHeaders":"yes"}`})
	fieldsNamed(t, bad, "underscoresInHeaders")
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `{"underscoresInHeaders":true}`})
	if g := e.s.Global(); g == nil || !g.UnderscoresInHeaders {
		t.Fatalf("global settings not compiled: %+v", g)
	}
	if s := e.pub.last(); s == nil || s.Global == nil || !s.Global.UnderscoresInHeaders {
		t.Fatalf("published snapshot without UnderscoresInHeaders: %+v", s)
	}
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `{"underscoresInHeaders":false}`})
	if s := e.pub.last(); s.Global == nil || s.Global.UnderscoresInHeaders {
		t.Fatalf("UnderscoresInHeaders still set after false: %+v", s.Global)
	}
}
