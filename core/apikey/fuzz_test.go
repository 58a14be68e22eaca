package apikey

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/httpparse"
)

// FuzzCheck feeds arbitrary credentials to every extractor, and arbitrary
// paths to the public/private matcher. Check must never panic, an accepted
// key must come with the method that authenticated it, and every header
// index to drop must exist.
func FuzzCheck(f *testing.F) {
	f.Add(uint8(0), "Bearer "+BearerToken("keyA", secretA))
	f.Add(uint8(0), "Bearer "+signJWT("HS256", secretA, `{"clientId":"keyA","exp":1e3}`))
	f.Add(uint8(0), "Basic "+basic("keyA", secretA))
	f.Add(uint8(1), "otoapk_keyA_00")
	f.Add(uint8(1), "eyJhbGciOiJIUzI1NiJ9.eyJjbGllbnRJZCI6ImtleUEiLCJuIjpbWyJ9Il1dfQ.c2ln")
	f.Add(uint8(2), "keyB")
	f.Add(uint8(3), "keyA")
	f.Add(uint8(4), basic("keyA", ""))
	f.Add(uint8(5), "/public/%2e%2e/x")
	names := []string{"Authorization", "Otoroshi-Token", "x-api-key", "Otoroshi-Client-Id", "Otoroshi-Authorization"}
	s := testKeys(f)
	p := mustPolicy(f, "", `{"public_patterns":["/public/.*"]}`)
	sc := NewScratch()
	f.Fuzz(func(t *testing.T, slot uint8, value string) {
		var raw string
		if int(slot) < len(names) {
			raw = "GET /x HTTP/1.1\r\nHost: h\r\n" + names[slot] + ": " + value + "\r\nOtoroshi-Client-Secret: " + value + "\r\n\r\n"
		} else {
			raw = "GET " + value + " HTTP/1.1\r\nHost: h\r\n\r\n"
		}
		buf := []byte(raw)
		req := &httpparse.Request{Headers: make([]httpparse.Header, 0, 16)}
		if _, err := httpparse.ParseRequest(buf, req, nil); err != nil {
			return
		}
		res, rej := p.Check(s, nil, sc, req, buf, "r", []string{"default"}, testNow)
		if rej == nil && res.Key != nil && res.Method == MethodNone {
			t.Fatalf("key %q accepted without a method", res.Key.ClientID)
		}
		for _, i := range res.Dropped() {
			if i < 0 || i >= len(req.Headers) {
				t.Fatalf("drop index %d out of range", i)
			}
		}
	})
}

// FuzzWalkObject checks the claim walker against encoding/json: every
// object encoding/json accepts (within maxDepth), the walker accepts too,
// with the same top-level member names in the same order. The walker may
// accept more (it does not validate skipped literals); that is safe because
// a token is only trusted after its signature is verified.
func FuzzWalkObject(f *testing.F) {
	f.Add(`{"alg":"HS256","typ":"JWT"}`)
	f.Add(`{"clientId":"a","exp":1700000000,"n":{"x":[1,2,{"y":"}"}]},"s":"\"\\"}`)
	f.Add(` { } `)
	f.Add(`{"a\u0062":null}`)
	f.Fuzz(func(t *testing.T, in string) {
		var names []string
		ok := walkObject([]byte(in), func(name, value []byte) bool {
			names = append(names, string(name))
			return true
		})
		if !json.Valid([]byte(in)) || depth(in) > maxDepth {
			return
		}
		dec := json.NewDecoder(strings.NewReader(in))
		tok, _ := dec.Token()
		if d, isDelim := tok.(json.Delim); !isDelim || d != '{' {
			return
		}
		if !ok {
			t.Fatalf("walker refused the valid object %q", in)
		}
		var want []string
		for dec.More() {
			tok, _ := dec.Token()
			want = append(want, tok.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		if len(names) != len(want) {
			t.Fatalf("%q: walker saw %q, encoding/json %q", in, names, want)
		}
		for i := range names {
			if !strings.Contains(names[i], `\`) && names[i] != want[i] {
				t.Fatalf("%q: member %d is %q, encoding/json says %q", in, i, names[i], want[i])
			}
		}
	})
}

// depth is the deepest nesting of brackets in in, outside strings.
func depth(in string) int {
	d, deepest, inStr := 0, 0, false
	for i := 0; i < len(in); i++ {
		switch c := in[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '{' || c == '['):
			d++
			deepest = max(deepest, d)
		case !inStr && (c == '}' || c == ']'):
			d--
		}
	}
	return deepest
}
