package route

import (
	"strings"
	"testing"

	"github.com/torii-gateway/torii/httpparse"
)

// request builds a parsed request by hand: "METHOD target" plus "Name: value" headers.
// It returns the request and the buffer its spans point into.
func request(method, host, target string, headers ...string) (*httpparse.Request, []byte) {
	var b strings.Builder
	req := &httpparse.Request{Version: httpparse.HTTP11}
	span := func(s string) httpparse.Span {
		start := b.Len()
		b.WriteString(s)
		return httpparse.Span{Start: int32(start), End: int32(b.Len())}
	}
	req.Method = span(method)
	if k, ok := methodKinds[method]; ok {
		req.MethodKind = k
	}
	b.WriteByte(' ')
	path, query, _ := strings.Cut(target, "?")
	req.Path = span(path)
	if strings.Contains(target, "?") {
		b.WriteByte('?')
		req.Query = span(query)
	}
	b.WriteString("\r\n")
	if host != "" {
		b.WriteString("Host: ")
		v := span(host)
		req.Host = v
		b.WriteString("\r\n")
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		n := span(name)
		b.WriteString(": ")
		v := span(strings.TrimSpace(value))
		b.WriteString("\r\n")
		req.Headers = append(req.Headers, httpparse.Header{Name: n, Value: v})
	}
	return req, []byte(b.String())
}

// mustCompile decodes JSON routes and compiles them, failing the test on error.
func mustCompile(t testing.TB, js string, opts CompileOptions) *Table {
	t.Helper()
	routes, err := DecodeRoutes([]byte(js))
	if err != nil {
		t.Fatalf("cannot decode routes: %s", err)
	}
	tab, err := Compile(routes, opts)
	if err != nil {
		t.Fatalf("cannot compile routes: %s", err)
	}
	return tab
}

// tableSources returns the routes of t (disabled ones too), by id.
func tableSources(t *Table) []*Route {
	var out []*Route
	for _, r := range t.recs.All() {
		out = append(out, r.src)
	}
	return out
}

// tableEntries returns every domain entry of the enabled routes of t, by route id then
// domain order: the order in which candidates with as many matchers are tried.
func tableEntries(t *Table) []*Compiled {
	var out []*Compiled
	for _, r := range t.recs.All() {
		out = append(out, r.entries...)
	}
	return out
}
