package admin

import (
	"net/http"
	"reflect"
	"testing"
)

// TestColdEntitiesAnswerAsHot: routes and API keys loaded at start are cold (their encodings stay
// in bbolt, see entity); every read and write answers as it did before the restart, when they were
// in memory, and a cold entity deleted behind an older state reads as gone.
func TestColdEntitiesAnswerAsHot(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 3 {
		e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: string(scaleRoute(i, 0))})
		e.must(http.StatusCreated, req{method: "POST", path: "/api/apikeys", body: string(scaleKey(i, 0))})
	}
	reads := []string{
		"/api/routes/route_0000001", "/api/apikeys/key0000002xxxxxx", "/api/routes", "/api/apikeys",
		"/api/apikeys?search=customer%201", "/api/routes?search=r2.scale", "/api/apikeys?filter.clientName=customer%200",
		"/api/apikeys?page=2&pageSize=1", "/api/routes/route_0000000/apikeys",
	}
	type answer struct {
		status     int
		etag, body string
	}
	read := func() []answer {
		var out []answer
		for _, p := range reads {
			r := e.do(req{method: "GET", path: p})
			out = append(out, answer{r.status, r.header.Get("ETag"), string(r.body)})
		}
		return out
	}
	exported := func() map[string]any {
		doc := e.must(http.StatusOK, req{method: "GET", path: "/api/otoroshi.json"}).obj(t)
		return map[string]any{"routes": doc["routes"], "apiKeys": doc["apiKeys"]}
	}
	hot, hotExport := read(), exported()
	hotKey := e.pub.last().Keys.Get("key0000001xxxxxx")

	e.stop()
	e.start(nil)
	st := e.s.cur.Load()
	for _, k := range []kindID{kRoutes, kKeys} {
		for _, ent := range st.ents[k].All() {
			if ent.cold == nil || ent.raw != nil {
				t.Fatalf("%s %s was loaded hot", kinds[k].label, ent.id)
			}
		}
	}
	if cold := read(); !reflect.DeepEqual(cold, hot) {
		for i := range cold {
			if cold[i] != hot[i] {
				t.Errorf("GET %s: cold %+v\nhot %+v", reads[i], cold[i], hot[i])
			}
		}
	}
	if cold := exported(); !reflect.DeepEqual(cold, hotExport) {
		t.Errorf("export differs after the restart:\ncold %v\nhot  %v", cold, hotExport)
	}
	coldKey := e.pub.last().Keys.Get("key0000001xxxxxx")
	if coldKey == nil || coldKey.Limits != hotKey.Limits || coldKey.ClientName != hotKey.ClientName {
		t.Fatalf("published key after the restart: %v, before: %v", coldKey, hotKey)
	}

	// Writes with If-Match on cold entities.
	etag := hot[1].etag
	e.must(http.StatusPreconditionFailed, req{method: "DELETE", path: "/api/apikeys/key0000002xxxxxx", header: map[string]string{"If-Match": `"nope"`}})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/apikeys/key0000002xxxxxx", body: `{"clientName":"renamed"}`,
		header: map[string]string{"If-Match": etag}})
	if got := e.must(http.StatusOK, req{method: "GET", path: "/api/apikeys/key0000002xxxxxx"}).obj(t)["clientName"]; got != "renamed" {
		t.Fatalf("clientName after PATCH: %v", got)
	}

	// A reader holding the state from before a delete finds the cold entity gone.
	old := e.s.cur.Load()
	e.must(http.StatusOK, req{method: "DELETE", path: "/api/apikeys/key0000000xxxxxx"})
	ent, ok := old.ents[kKeys].Get("key0000000xxxxxx")
	if !ok || ent.bytes() != nil || ent.doc() != nil {
		t.Fatalf("deleted cold key still reads through the old state: %v", ent)
	}
	rd := &reader{}
	defer rd.close()
	if raw := rd.bytes(ent); raw != nil {
		t.Fatalf("reader: deleted cold key reads %s", raw)
	}
	if n := len(e.must(http.StatusOK, req{method: "GET", path: "/api/apikeys"}).list(t)); n != 2 {
		t.Fatalf("%d keys listed after the delete, want 2", n)
	}
}
