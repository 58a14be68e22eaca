package admin

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzDecodeStrict: never panics; accepts only valid JSON; what it accepts re-encodes to a
// fixed point.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":1,"a":2}`, `{"a":[1,{"b":null}]}`, `1 2`, `"x"`, `{"a":1e400}`, `[[[[]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeStrict(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		raw, err := encodeJSON(v)
		if err != nil {
			t.Fatalf("cannot re-encode %q: %v", data, err)
		}
		v2, err := decodeStrict(raw)
		if err != nil {
			t.Fatalf("re-encoded form %q does not decode: %v", raw, err)
		}
		raw2, _ := encodeJSON(v2)
		if string(raw) != string(raw2) {
			t.Fatalf("not a fixed point: %q then %q", raw, raw2)
		}
	})
}

// FuzzImport: buildImport never panics, and every entity it accepts encodes and validates.
func FuzzImport(f *testing.F) {
	for _, name := range []string{"handwritten-export.json", "export-tunnel-demo.json"} {
		raw, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"serviceDescriptors":[{"id":"x","targets":[{"host":"h"}],"paths":[1,"a"],"hosts":[]}]}`))
	f.Add([]byte(`{"routes":[{"id":"r","frontend":{"domains":["a"]},"backend":{"targets":[{"hostname":"h","port":1}]}}],"config":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := decodeObject(data)
		if err != nil {
			return
		}
		st, _, err := buildImport(doc)
		if err != nil {
			return
		}
		for _, k := range kinds {
			for _, e := range st.ents[k.id] {
				c := &checker{}
				k.check(c, e.doc)
				if len(c.errs) > 0 {
					t.Fatalf("accepted an invalid %s: %v", k.label, c.errs)
				}
			}
		}
	})
}

// FuzzPatch: patches never panic and never modify their input.
func FuzzPatch(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,2]}}`), []byte(`[{"op":"move","from":"/a/b/0","path":"/a/b/-"}]`))
	f.Add([]byte(`{"a":1}`), []byte(`{"a":null,"b":{"c":1}}`))
	f.Fuzz(func(t *testing.T, docRaw, patchRaw []byte) {
		doc, err := decodeObject(docRaw)
		if err != nil {
			return
		}
		patch, err := decodeStrict(patchRaw)
		if err != nil {
			return
		}
		before, _ := encodeJSON(doc)
		_, _ = applyPatch(doc, patch)
		after, _ := encodeJSON(doc)
		if string(before) != string(after) {
			t.Fatalf("patch modified its input: %s -> %s", before, after)
		}
	})
}
