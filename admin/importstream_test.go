package admin

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/internal/jsonx"
	"go.etcd.io/bbolt"
)

// CompareStreamedImport reads raw with the streaming import (readImport) and with the import of
// the decoded document (buildImport) and says how they differ: state (every entity's encoding,
// the global config, the export's other fields), report and errors. nil: the same. Exported for
// the scale test of package admin_test (scalegen imports admin), which also gets the outcome:
// the error's fields, or the number of API keys imported.
func CompareStreamedImport(raw []byte, maxEntities int) (outcome string, err error) {
	sst, srep, serr := readImport(bytes.NewReader(raw), maxEntities, nil)
	if serr != nil {
		var ae *APIError
		if errors.As(serr, &ae) {
			f, _ := jsonx.Encode(ae.Fields)
			outcome = string(f)
		} else {
			outcome = serr.Error()
		}
	} else {
		outcome = fmt.Sprintf("%d keys", sst.ents[kKeys].Len())
	}
	return outcome, compareImports(raw, maxEntities, sst, srep, serr)
}

func compareImports(raw []byte, maxEntities int, sst *state, srep any, serr error) error {
	var dst *state
	var drep any
	doc, derr := jsonx.DecodeObject(raw)
	if derr == nil {
		var rep any
		dst, rep, derr = func() (*state, any, error) { st, r, err := buildImport(doc, maxEntities); return st, r, err }()
		drep = rep
	}
	if (serr == nil) != (derr == nil) {
		return fmt.Errorf("streamed error %v, decoded error %v", serr, derr)
	}
	if serr != nil {
		if serr.Error() != derr.Error() {
			return fmt.Errorf("streamed error %q, decoded error %q", serr, derr)
		}
		var sa, da *APIError
		if errors.As(serr, &sa) != errors.As(derr, &da) {
			return fmt.Errorf("streamed error %T, decoded error %T", serr, derr)
		}
		if sa != nil {
			sf, _ := jsonx.Encode(sa.Fields)
			df, _ := jsonx.Encode(da.Fields)
			if !bytes.Equal(sf, df) {
				return fmt.Errorf("streamed fields %s\ndecoded fields %s", sf, df)
			}
		}
		return nil
	}
	sr, _ := jsonx.Encode(srep)
	dr, _ := jsonx.Encode(drep)
	if !bytes.Equal(sr, dr) {
		return fmt.Errorf("streamed report %s\ndecoded report %s", sr, dr)
	}
	var sb, db bytes.Buffer
	for _, x := range []struct {
		st  *state
		buf *bytes.Buffer
	}{{sst, &sb}, {dst, &db}} {
		for _, k := range kinds {
			fmt.Fprintf(x.buf, "%s %d\n", k.bucket, x.st.ents[k.id].Len())
			for _, e := range x.st.ents[k.id].All() {
				fmt.Fprintf(x.buf, "%s %s %s\n", e.id, e.etag, e.raw)
			}
		}
		for _, e := range []*entity{x.st.global, x.st.extra} {
			if e != nil {
				fmt.Fprintf(x.buf, "%s %s\n", e.id, e.raw)
			}
		}
	}
	if !bytes.Equal(sb.Bytes(), db.Bytes()) {
		return fmt.Errorf("states differ:\n%.2000s\n%.2000s", sb.String(), db.String())
	}
	return nil
}

// TestStreamedImportEqualsDecoded: the real exports, every kind, and exports with errors of
// every sort give the same state, report and errors streamed as decoded.
func TestStreamedImportEqualsDecoded(t *testing.T) {
	docs := map[string]string{}
	for _, f := range []string{"export-relay-demo.json", "export-tunnel-demo.json", "every-kind-export.json", "handwritten-export.json"} {
		docs[f] = string(readTestdata(t, f))
	}
	route := func(id, host string, port int, extra string) string {
		return fmt.Sprintf(`{"id":%q,"frontend":{"domains":[%q]},"backend":{"targets":[{"hostname":"127.0.0.1","port":%d}]}%s}`, id, host, port, extra)
	}
	for name, body := range map[string]string{
		"backend refs before backends": `{"routes":[` + route("r1", "a.example.com", 1, `,"backend_ref":"b1"`) + `,` +
			route("r2", "b.example.com", 2, "") + `,` + route("r1", "c.example.com", 3, "") + `],
			"backends":[{"id":"b1","backend":{"targets":[{"id":"t","hostname":"127.0.0.1","port":5,"tls":true}]}}]}`,
		"backend refs after backends": `{"backends":[{"id":"b1","backend":{"targets":[{"hostname":"127.0.0.1","port":5}]}}],
			"routes":[` + route("r1", "a.example.com", 1, `,"backend_ref":"b1"`) + `]}`,
		"duplicates and bad entities": `{"serviceGroups":[{"id":"g1","name":"ok"},{"id":"g1","name":"dup"},{"id":"g1"},"x",{}],
			"apiKeys":[{"clientId":"k"},{"clientId":"k2","clientSecret":"s","clientName":"n"},{"clientId":"k2","clientSecret":"s","clientName":"n"}]}`,
		"not lists":      `{"routes":{},"apiKeys":"x","serviceGroups":null,"config":[1],"extensions":{"a":1}}`,
		"too many":       `{"serviceGroups":[{"id":"g1"},{"id":"g2"},{"id":"g3","name":5},{"id":"g4"}],"apiKeys":[{"clientId":"k"}],"routes":[` + route("r1", "a.example.com", 0, `,"backend_ref":"b"`) + `]}`,
		"syntax":         `{"routes":[{"id":"r1",}]}`,
		"duplicate list": `{"routes":[],"apiKeys":[],"routes":[]}`,
		"duplicate key":  `{"routes":[{"id":"r","id":"s"}]}`,
		"not an object":  `[1,2]`,
		"trailing":       `{} {}`,
		"empty":          ``,
		"deep":           `{"extensions":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`,
		"deep entity":    `{"routes":[` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `]}`,
		"truncated":      `{"routes":[` + route("r1", "a.example.com", 1, ""),
	} {
		docs[name] = body
	}
	for name, body := range docs {
		t.Run(name, func(t *testing.T) {
			max := DefaultMaxImportEntities
			if name == "too many" {
				max = 3
			}
			if _, err := CompareStreamedImport([]byte(body), max); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStreamedImportRefusedKeepsState: an import refused in the middle of a large stream (an
// invalid key, a list over the limit, a body over the limit, entities that do not compile
// together, a stale If-Match) leaves the stored and published state as it was, and no staging
// bucket behind; a staging left by a crash is dropped at the next start.
func TestStreamedImportRefusedKeepsState(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxImportEntities = 6000; o.MaxImportBytes = 4 << 20 })
	e.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: genExport(2, 500, -1)})
	before := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).header.Get("ETag")
	published := e.pub.count()

	fieldsNamed(t, e.must(http.StatusBadRequest, req{method: "POST", path: "/api/otoroshi.json", body: genExport(3, 5000, 2345)}),
		"apiKeys[2345].clientSecret")
	r := e.must(http.StatusBadRequest, req{method: "POST", path: "/api/otoroshi.json", body: genExport(3, 6001, 5)})
	fieldsNamed(t, r, "apiKeys")
	if !strings.Contains(string(r.body), "holds 6001 entities, more than the import limit of 6000") || strings.Contains(string(r.body), "apiKeys[5]") {
		t.Errorf("limit error: %s", r.body)
	}
	big := genExport(3, 5900, -1)
	big = append(big[:len(big)-2], []byte(`,"extensions":"`+strings.Repeat("x", 4<<20)+`"}`)...)
	e.must(http.StatusRequestEntityTooLarge, req{method: "POST", path: "/api/otoroshi.json", body: big})
	bad := append([]byte(`{"routes":[{"id":`), bytes.Repeat([]byte(" "), 5<<20)...)
	e.must(http.StatusRequestEntityTooLarge, req{method: "POST", path: "/api/otoroshi.json", body: append(bad, '}')})
	e.must(http.StatusBadRequest, req{method: "POST", path: "/api/otoroshi.json", body: `{"routes":[{"id":}]}`})
	dupDomain := bytes.Replace(genExport(3, 100, -1), []byte(`"routes":[`), []byte(`"routes":[
		{"id":"r2","frontend":{"domains":["g.example.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":2}]}},`), 1)
	if r := e.must(http.StatusBadRequest, req{method: "POST", path: "/api/otoroshi.json", body: dupDomain}); r.obj(t)["error"] != "errors.invalid.configuration" {
		t.Fatalf("%s", r.body)
	}
	e.must(http.StatusPreconditionFailed, req{method: "POST", path: "/api/otoroshi.json", body: genExport(3, 1000, -1), header: map[string]string{"If-Match": `"old"`}})

	check := func() {
		t.Helper()
		if got := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).header.Get("ETag"); got != before {
			t.Fatalf("a refused import changed the state")
		}
		if e.pub.count() != published {
			t.Fatalf("a refused import published")
		}
		if err := e.s.db.View(func(tx *bbolt.Tx) error {
			if tx.Bucket([]byte(stagingBucket)) != nil {
				return errors.New("staging bucket left")
			}
			if n := tx.Bucket([]byte(bucketKeys)).Stats().KeyN; n != 500 {
				return fmt.Errorf("%d keys stored, want 500", n)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	check()

	// A crash between staging and the swap: the next start drops the staging, keeps the state.
	sg, err := e.s.newStager()
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := readImport(bytes.NewReader(genExport(3, 2000, -1)), DefaultMaxImportEntities, sg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sg.finish(next); err != nil {
		t.Fatal(err)
	}
	e.stop()
	e.start(nil)
	published = e.pub.count()
	check()

	// And a valid import after all that replaces everything.
	e.must(http.StatusOK, req{method: "POST", path: "/api/otoroshi.json", body: genExport(4, 3000, -1)})
	if n := e.s.cur.Load().ents[kKeys].Len(); n != 3000 {
		t.Fatalf("%d keys after import", n)
	}
	// Imported routes and keys are cold, read in the live buckets, as after a start.
	for _, k := range []kindID{kKeys, kRoutes} {
		for _, ent := range e.s.cur.Load().ents[k].All() {
			if ent.cold == nil || ent.cold.staged.Load() || ent.raw != nil {
				t.Fatalf("imported %s %s: not cold in the live bucket", kinds[k].label, ent.id)
			}
		}
	}
	key := e.must(http.StatusOK, req{method: "GET", path: "/api/apikeys/key0002999"}).obj(t)
	if key["clientSecret"] != "secret-4-2999" {
		t.Fatalf("key read after import: %v", key)
	}
	exported := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).header.Get("ETag")
	e.stop()
	e.start(nil)
	if got := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).header.Get("ETag"); got != exported {
		t.Fatalf("the imported state differs after a restart")
	}
}

// genExport is an export with one route and keys API keys (seeded by gen: the secrets differ);
// key bad, when in range, has no secret.
func genExport(gen, keys, bad int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"label":"Otoroshi export","routes":[{"id":"route_g%d","frontend":{"domains":["g.example.com"]},"backend":{"targets":[{"hostname":"127.0.0.1","port":3001}]}}],"apiKeys":[`, gen)
	for i := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		secret := fmt.Sprintf(`"clientSecret":"secret-%d-%d",`, gen, i)
		if i == bad {
			secret = ""
		}
		fmt.Fprintf(&b, `{"clientId":"key%07d",%s"clientName":"customer %d","authorizedEntities":["route_route_g%d"],"throttlingQuota":100,"metadata":{"plan":"basic"}}`, i, secret, i, gen)
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// TestStreamedImportWithConcurrentWrites: writes made while an import streams are either replaced
// by it or made after it, and what is stored is what is served (same export after a restart).
func TestStreamedImportWithConcurrentWrites(t *testing.T) {
	e := newEnv(t, nil)
	done := make(chan resp)
	go func() { done <- e.do(req{method: "POST", path: "/api/otoroshi.json", body: genExport(5, 5000, -1)}) }()
	for i := 0; ; i++ {
		if i == 20000 {
			t.Fatal("the import did not end during 20,000 writes")
		}
		e.must(http.StatusCreated, req{method: "POST", path: "/api/groups", body: map[string]any{"id": fmt.Sprintf("g%d", i), "name": "during"}})
		select {
		case r := <-done:
			if r.status != http.StatusOK {
				t.Fatalf("import: %d %s", r.status, r.body)
			}
			if n := e.s.cur.Load().ents[kKeys].Len(); n != 5000 {
				t.Fatalf("%d keys after import", n)
			}
			served := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).header.Get("ETag")
			e.stop()
			e.start(nil)
			if got := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).header.Get("ETag"); got != served {
				t.Fatalf("stored state differs from the served one after writes during an import")
			}
			return
		default:
		}
	}
}
