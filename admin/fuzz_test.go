package admin

import (
	"os"
	"testing"

	"github.com/torii-gateway/torii/internal/jsonx"
)

// FuzzImport: buildImport never panics, every entity it accepts encodes and validates, and the
// streamed import (readImport) gives the same state, report and errors.
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
		if _, err := CompareStreamedImport(data, 3); err != nil {
			t.Fatal(err)
		}
		doc, err := jsonx.DecodeObject(data)
		if err != nil {
			return
		}
		st, _, err := buildImport(doc, DefaultMaxImportEntities)
		if err != nil {
			return
		}
		for _, k := range kinds {
			for _, e := range st.ents[k.id].All() {
				c := &checker{}
				k.check(c, e.doc())
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
		doc, err := jsonx.DecodeObject(docRaw)
		if err != nil {
			return
		}
		patch, err := jsonx.Decode(patchRaw)
		if err != nil {
			return
		}
		before, _ := jsonx.Encode(doc)
		_, _ = applyPatch(doc, patch)
		after, _ := jsonx.Encode(doc)
		if string(before) != string(after) {
			t.Fatalf("patch modified its input: %s -> %s", before, after)
		}
	})
}
