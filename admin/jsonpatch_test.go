package admin

import (
	"net/http"
	"testing"
)

func TestJSONPatch(t *testing.T) {
	f := func(doc, patch, want string) {
		t.Helper()
		d, _ := decodeStrict([]byte(doc))
		p, err := decodeStrict([]byte(patch))
		if err != nil {
			t.Fatal(err)
		}
		out, err := applyJSONPatch(d, p.([]any))
		got := ""
		if err != nil {
			got = "error"
		} else {
			raw, _ := encodeJSON(out)
			got = string(raw)
		}
		if got != want {
			t.Errorf("%s + %s = %s, want %s", doc, patch, got, want)
		}
		if raw, _ := encodeJSON(d); string(raw) != mustCanon(doc) {
			t.Errorf("the input was modified: %s", raw)
		}
	}
	f(`{"a":1}`, `[{"op":"replace","path":"/a","value":2}]`, `{"a":2}`)
	f(`{"a":1}`, `[{"op":"add","path":"/b","value":[1]}]`, `{"a":1,"b":[1]}`)
	f(`{"a":[1,2]}`, `[{"op":"add","path":"/a/1","value":9}]`, `{"a":[1,9,2]}`)
	f(`{"a":[1,2]}`, `[{"op":"add","path":"/a/-","value":3}]`, `{"a":[1,2,3]}`)
	f(`{"a":[1,2]}`, `[{"op":"remove","path":"/a/0"}]`, `{"a":[2]}`)
	f(`{"a":{"b":1}}`, `[{"op":"move","from":"/a/b","path":"/c"}]`, `{"a":{},"c":1}`)
	f(`{"a":{"b":1}}`, `[{"op":"copy","from":"/a","path":"/c"}]`, `{"a":{"b":1},"c":{"b":1}}`)
	f(`{"a/b":1,"m~n":2}`, `[{"op":"remove","path":"/a~1b"},{"op":"replace","path":"/m~0n","value":3}]`, `{"m~n":3}`)
	f(`{"a":1}`, `[{"op":"test","path":"/a","value":1},{"op":"remove","path":"/a"}]`, `{}`)
	f(`{"a":1}`, `[{"op":"test","path":"/a","value":2}]`, "error")
	f(`{"a":1}`, `[{"op":"replace","path":"/missing","value":2}]`, "error")
	f(`{"a":[1]}`, `[{"op":"remove","path":"/a/5"}]`, "error")
	f(`{"a":[1]}`, `[{"op":"add","path":"/a/01","value":1}]`, "error")
	f(`{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a/c"}]`, "error")
	f(`{"a":1}`, `[{"op":"jump","path":"/a"}]`, "error")
	f(`{"a":1}`, `[{"op":"add","path":"a","value":1}]`, "error")
	f(`{"a":1}`, `[{"op":"remove","path":""}]`, "error")
	f(`{"a":1}`, `["x"]`, "error")
}

func mustCanon(s string) string {
	v, _ := decodeStrict([]byte(s))
	raw, _ := encodeJSON(v)
	return string(raw)
}

func TestPatchWithJSONPatchBody(t *testing.T) {
	e := newEnv(t, nil)
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_a", "a.example.com", 3001)})
	r := e.must(http.StatusOK, req{method: "PATCH", path: "/api/routes/route_a", body: `[{"op":"replace","path":"/enabled","value":false},{"op":"add","path":"/frontend/domains/-","value":"b.example.com"}]`,
		header: map[string]string{"Content-Type": "application/json-patch+json"}}).obj(t)
	if r["enabled"] != false || len(r["frontend"].(map[string]any)["domains"].([]any)) != 2 {
		t.Fatalf("JSON patch not applied: %v", r)
	}
	e.must(http.StatusBadRequest, req{method: "PATCH", path: "/api/routes/route_a", body: `[{"op":"remove","path":"/nope"}]`})
	e.must(http.StatusBadRequest, req{method: "PATCH", path: "/api/routes/route_a", body: `[{"op":"replace","path":"","value":[]}]`})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `[{"op":"replace","path":"/maintenanceMode","value":true}]`})
}
