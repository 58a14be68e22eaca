package admin

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/otoroshi"
)

// exportDoc builds the Otoroshi export of st as a document: the reference writeExport streams.
func exportDoc(st *state, now time.Time) map[string]any {
	lists := make(map[string][]any, len(kinds))
	for _, k := range kinds {
		out := []any{}
		for _, e := range st.sorted(k.id) {
			out = append(out, e.doc())
		}
		lists[k.array] = out
	}
	var extra map[string]any
	if st.extra != nil {
		extra = st.extra.doc()
	}
	return otoroshi.Export(lists, st.globalDoc(), extra, now)
}

// TestStreamedExportIsTheDocument checks that the streamed export of states loaded from real and
// every-kind exports is, byte for byte, the encoding of the export document.
func TestStreamedExportIsTheDocument(t *testing.T) {
	for _, name := range []string{"every-kind-export.json", "export-relay-demo.json", "handwritten-export.json"} {
		e := newEnv(t, nil)
		e.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: readTestdata(t, name)})
		st := e.s.cur.Load()
		now := time.UnixMilli(1_700_000_000_000)
		want, err := jsonx.Encode(exportDoc(st, now))
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := writeExport(&got, st, now); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%s: streamed export differs from the document:\n%.400s\nwant\n%.400s", name, got.Bytes(), want)
		}
		if stateETag(st) != jsonx.ETag(mustEncode(t, exportDoc(st, time.Time{}))) {
			t.Fatalf("%s: stateETag is not the ETag of the export without dates", name)
		}
	}
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := jsonx.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
