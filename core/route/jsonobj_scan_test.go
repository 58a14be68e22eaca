package route

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestUndeclaredMatchesMapDecode checks the in-place member walk of decodeObject against
// encoding/json decoding the object into a map, on hand-picked and random objects.
func TestUndeclaredMatchesMapDecode(t *testing.T) {
	known := map[string]bool{"id": true, "name": true, "backend": true}
	docs := []string{
		`{}`, ` { } `, `{"id":"a"}`, `{"x":1}`, `{"x":-1.5e3}`, `{"x":1,"y":2}`,
		"{\n\t\"x\" : [1, 2 ,{\"a\":\"}]\"}] ,\r\n \"id\" : \"q\\\"}\" }",
		`{"x":"a\\","y":"b\"c","z":{"n":[[],{},[{}]]}}`, `{"x":true,"y":false,"z":null}`,
		`{"x":1,"x":2}`, `{"héllo":"wörld","id":{"a":[1,"]"]}}`, `{"x":{"id":1},"name":null}`,
		`{"x":1 }`, `{"x":[1 ]}`, `{"backend":{"y":"z"},"q":""}`,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		docs = append(docs, randomObject(r, 0))
	}
	for _, doc := range docs {
		var all map[string]json.RawMessage
		if err := json.Unmarshal([]byte(doc), &all); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var want map[string]json.RawMessage
		for k, v := range all {
			if !known[k] {
				if want == nil {
					want = map[string]json.RawMessage{}
				}
				want[k] = v
			}
		}
		got, ok := undeclared([]byte(strings.TrimLeft(doc, " \t\r\n")), known)
		if !ok {
			t.Fatalf("%s: walk refused", doc)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %q\nwant %q", doc, got, want)
		}
	}
	if _, ok := undeclared([]byte(`{"a\u0062":1}`), known); ok {
		t.Fatal("a member name with an escape was walked")
	}
}

// randomObject returns a random valid JSON object, with random whitespace.
func randomObject(r *rand.Rand, depth int) string {
	ws := func() string { return []string{"", " ", "\n\t", "\r\n  "}[r.IntN(4)] }
	names := []string{"id", "name", "backend", "x", "y", "é", "a b", "}", "]"}
	var b strings.Builder
	b.WriteString("{" + ws())
	for i := range r.IntN(5) {
		if i > 0 {
			b.WriteString(ws() + "," + ws())
		}
		fmt.Fprintf(&b, "%q%s:%s%s", names[r.IntN(len(names))], ws(), ws(), randomValue(r, depth))
	}
	b.WriteString(ws() + "}")
	return b.String()
}

func randomValue(r *rand.Rand, depth int) string {
	switch n := r.IntN(8); {
	case n == 0 && depth < 3:
		return randomObject(r, depth+1)
	case n == 1 && depth < 3:
		return "[" + randomValue(r, depth+1) + " , " + randomValue(r, depth+1) + "]"
	case n == 2:
		return `"q\"\\}]{[,"`
	case n == 3:
		return []string{"true", "false", "null"}[r.IntN(3)]
	case n == 4:
		return "-12.5e-3"
	case n == 5:
		return "[]"
	default:
		return fmt.Sprint(r.IntN(1000))
	}
}
