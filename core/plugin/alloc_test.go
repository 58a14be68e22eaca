//go:build !race

package plugin

import (
	"net/netip"
	"testing"
)

// TestNotFiringAllocs: with the plugins configured but not firing (the
// request passes every check, no field to remove), a request costs no
// allocation.
func TestNotFiringAllocs(t *testing.T) {
	c := notFiringChain(t)
	x := parseReq(t, "GET /api HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n")
	x.Remote = netip.MustParseAddr("10.0.0.1")
	names := [][]byte{[]byte("host"), []byte("x-a"), []byte("accept")}
	dst := make([]byte, 0, 4096)
	var xs Exchange // the engine keeps it in its connection struct
	n := testing.AllocsPerRun(1000, func() {
		xs.Reset()
		if v := c.Access(x, &xs); v.Refuse != RefusalNone || v.Respond {
			t.Fatal("fired")
		}
		for _, nm := range names {
			if c.DropRequest(nm, &xs) || c.DropResponse(nm, &xs) {
				t.Fatal("dropped")
			}
		}
		dst = c.AppendRequest(dst[:0], x, &xs)
		dst = c.AppendResponse(dst[:0], x, &xs, nil, nil)
	})
	if n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// TestFiringAllocs: header plugins, the info token (HS512) and the V1/V2
// challenge allocate nothing either once their pools are warm, except the
// V2 answer check, which decodes JSON.
func TestFiringAllocs(t *testing.T) {
	c := mustChain(t,
		"AdditionalHeadersIn", `{"headers":{"X-Req":"${req.id}","X-Key":"${apikey.clientId}"}}`,
		"AdditionalHeadersOut", `{"headers":{"X-Out":"${date}"}}`,
		"OtoroshiInfos", `{"version":"Latest"}`,
		"OtoroshiChallenge", `{"version":"V2"}`,
		"Cors", `{"allow_methods":["GET"]}`)
	x := parseReq(t, "GET /api HTTP/1.1\r\nHost: a\r\n\r\n")
	x.Key = testKey()
	dst := make([]byte, 0, 8192)
	var xs Exchange
	n := testing.AllocsPerRun(1000, func() {
		dst = c.AppendRequest(dst[:0], x, &xs)
		dst = c.AppendResponse(dst[:0], x, &xs, nil, nil)
	})
	if n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}
