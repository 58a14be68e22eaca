package jsonx

import "testing"

func TestJSONPatch(t *testing.T) {
	f := func(doc, patch, want string) {
		t.Helper()
		d, _ := Decode([]byte(doc))
		p, err := Decode([]byte(patch))
		if err != nil {
			t.Fatal(err)
		}
		out, err := Patch(d, p.([]any))
		got := ""
		if err != nil {
			got = "error"
		} else {
			raw, _ := Encode(out)
			got = string(raw)
		}
		if got != want {
			t.Errorf("%s + %s = %s, want %s", doc, patch, got, want)
		}
		if raw, _ := Encode(d); string(raw) != mustCanon(doc) {
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
	// RFC 6901: "~" only as "~0" or "~1".
	f(`{"a":1}`, `[{"op":"add","path":"/a~2b","value":1}]`, "error")
	f(`{"a":1}`, `[{"op":"add","path":"/a~","value":1}]`, "error")
	f(`{"a~":1}`, `[{"op":"move","from":"/a~","path":"/b"}]`, "error")
	f(`{"a":1}`, `[{"op":"add","path":"/~01","value":1}]`, `{"a":1,"~1":1}`)
}

func mustCanon(s string) string {
	v, _ := Decode([]byte(s))
	raw, _ := Encode(v)
	return string(raw)
}
