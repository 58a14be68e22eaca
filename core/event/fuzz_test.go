package event

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/torii-gateway/torii/httpparse"
)

// utf8Fixed is what a JSON decoder reads back for arbitrary bytes: every
// invalid byte becomes U+FFFD.
func utf8Fixed(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		sb.WriteRune(r)
		b = b[size:]
	}
	return sb.String()
}

// FuzzGatewayEvent: whatever bytes a client sends, the event is valid JSON
// and reads back as the (truncated, UTF-8-repaired) bytes, and secrets never
// appear.
func FuzzGatewayEvent(f *testing.F) {
	f.Add([]byte("api.example.com"), []byte("/x?y=1"), []byte("Accept"), []byte("*/*"), []byte("GET"))
	f.Add([]byte("h\xff\xfe"), []byte("\"\\\x00\x7f</script>"), []byte("Authorization"), []byte("Bearer tok"), []byte("\xe2\x82"))
	f.Add([]byte(strings.Repeat("é", 200)), []byte(strings.Repeat("\u2028", 300)), []byte("x-API-key"), []byte("k"), []byte("M"))
	f.Fuzz(func(t *testing.T, host, uri, hname, hvalue, method []byte) {
		r := newRing(1, true)
		rec := newRecord(r)
		rec.Method = httpparse.MethodOther
		rec.SetMethodToken(method)
		rec.SetHost(host)
		rec.SetURI(uri)
		rec.AddHeaderIn(hname, hvalue)
		doc := AppendGatewayEvent(nil, rec, 1, DefaultEnv)
		var ev struct {
			To      struct{ Host, URI string }
			Method  string
			URL     string
			Headers []struct{ Key, Value string }
		}
		if err := json.Unmarshal(doc, &ev); err != nil {
			t.Fatalf("invalid JSON %v: %q", err, doc)
		}
		trunc := func(b []byte, n int) []byte { return b[:min(len(b), n)] }
		if want := utf8Fixed(trunc(host, MaxHostLen)); ev.To.Host != want {
			t.Fatalf("host %q, want %q", ev.To.Host, want)
		}
		if want := utf8Fixed(trunc(uri, MaxURILen)); ev.To.URI != want {
			t.Fatalf("uri %q, want %q", ev.To.URI, want)
		}
		if want := utf8Fixed(trunc(method, maxMethodLen)); ev.Method != want {
			t.Fatalf("method %q, want %q", ev.Method, want)
		}
		if len(ev.Headers) == 1 && isSecretHeader(trunc(hname, MaxHeaderNameLen)) && ev.Headers[0].Value != Redacted {
			t.Fatalf("secret header %q kept value %q", hname, ev.Headers[0].Value)
		}
	})
}
