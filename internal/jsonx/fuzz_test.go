package jsonx

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeStrict: never panics; accepts only valid JSON; what it accepts re-encodes to a
// fixed point.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":1,"a":2}`, `{"a":[1,{"b":null}]}`, `1 2`, `"x"`, `{"a":1e400}`, `[[[[]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		raw, err := Encode(v)
		if err != nil {
			t.Fatalf("cannot re-encode %q: %v", data, err)
		}
		v2, err := Decode(raw)
		if err != nil {
			t.Fatalf("re-encoded form %q does not decode: %v", raw, err)
		}
		raw2, _ := Encode(v2)
		if string(raw) != string(raw2) {
			t.Fatalf("not a fixed point: %q then %q", raw, raw2)
		}
	})
}
