package plugin

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

// parseReq parses a raw request head for a test Ctx.
func parseReq(t testing.TB, raw string) *Ctx {
	t.Helper()
	if strings.Contains(raw, "HTTP/1.1\r\n") && !strings.Contains(raw, "Host:") {
		raw = strings.Replace(raw, "\r\n", "\r\nHost: a\r\n", 1)
	}
	buf := []byte(raw)
	req := &httpparse.Request{Headers: make([]httpparse.Header, 0, 32)}
	if _, err := httpparse.ParseRequest(buf, req, &httpparse.Limits{}); err != nil {
		t.Fatalf("cannot parse %q: %v", raw, err)
	}
	return &Ctx{Req: req, Buf: buf, Remote: netip.MustParseAddr("10.1.2.3"), ID: 42,
		Route: &route.Compiled{ID: "route_1", Name: "my-route", Route: &route.Route{Metadata: map[string]string{"team": "blue"}}},
		Now:   time.Date(2026, 12, 6, 15, 4, 5, 123e6, time.UTC)}
}

// testKey is an API key with metadata and tags.
func testKey() *apikey.Key {
	set, err := apikey.Compile([]apikey.ApiKey{{ClientID: "cid1", ClientName: "client one", ClientSecret: "secret1",
		Enabled: true, Metadata: map[string]string{"env": "prod"}, Tags: []string{"t1", "t2"}}})
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return set.Get("cid1")
}

// chainOf compiles one route whose plugins are given as name → config JSON,
// in order.
func chainOf(t testing.TB, plugins ...string) (*Chain, error) {
	t.Helper()
	rt := &route.Compiled{ID: "route_1", Name: "my-route"}
	for i := 0; i+1 < len(plugins); i += 2 {
		rt.Steps = append(rt.Steps, route.Step{Index: i / 2, Name: plugins[i], ID: "cp:otoroshi.next.plugins." + plugins[i],
			Config: json.RawMessage(plugins[i+1])})
	}
	return Compile(rt)
}

func mustChain(t testing.TB, plugins ...string) *Chain {
	t.Helper()
	c, err := chainOf(t, plugins...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func parseResp(t testing.TB, buf []byte) (*httpparse.Response, error) {
	resp := &httpparse.Response{Headers: make([]httpparse.Header, 0, 16)}
	_, err := httpparse.ParseResponse(buf, resp, &httpparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return resp, err
}
