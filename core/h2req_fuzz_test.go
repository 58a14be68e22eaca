package core

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"

	"github.com/torii-gateway/torii/httpparse"
)

// reqField is one field of a fuzzed request header list.
type reqField struct{ name, value string }

// parseFieldSpec reads a header list written as a length-prefixed sequence: a length byte, the
// name, a length byte, the value (any bytes, NUL, CR and LF included).
func parseFieldSpec(spec []byte) []reqField {
	var out []reqField
	for len(spec) > 0 {
		n := int(spec[0])
		spec = spec[1:]
		if n > len(spec) {
			n = len(spec)
		}
		name := string(spec[:n])
		spec = spec[n:]
		v := 0
		if len(spec) > 0 {
			v = int(spec[0])
			spec = spec[1:]
		}
		if v > len(spec) {
			v = len(spec)
		}
		out = append(out, reqField{name, string(spec[:v])})
		spec = spec[v:]
	}
	return out
}

func fieldSpec(fs ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(fs); i += 2 {
		b = append(b, byte(len(fs[i])))
		b = append(b, fs[i]...)
		b = append(b, byte(len(fs[i+1])))
		b = append(b, fs[i+1]...)
	}
	return b
}

// validH2Field is RFC 9113 §8.2.1 written independently of h2req.go: a name of lower-case
// token characters (a pseudo-header's after its colon), a value without NUL, CR or LF and without
// leading or trailing whitespace. It says what a server may accept, as the oracle.
func validH2Field(name, value string) bool {
	n := strings.TrimPrefix(name, ":")
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= ' ' || c >= 0x7f || ('A' <= c && c <= 'Z') || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	if strings.ContainsAny(value, "\x00\r\n") {
		return false
	}
	if value != "" && (value[0] == ' ' || value[0] == '\t' || value[len(value)-1] == ' ' || value[len(value)-1] == '\t') {
		return false
	}
	return true
}

// FuzzH2Request: for any header list (encoded by x/net's HPACK encoder), decodeRequest either
// refuses the stream or writes an HTTP/1.1 head that httpparse reads as exactly one request with
// the same method, target, authority and regular fields, framed by the content-length (or
// chunked when a body follows without one), closing the connection; every field it accepts is
// valid under RFC 9113 §8.2.1; nothing it writes carries a CR, LF or NUL of the input.
func FuzzH2Request(f *testing.F) {
	base := []string{":method", "GET", ":scheme", "https", ":path", "/a?b=c", ":authority", "example.test"}
	f.Add(fieldSpec(base...), true)
	f.Add(fieldSpec(append(base, "content-length", "5", "cookie", "a=b", "cookie", "c=d", "te", "trailers")...), false)
	f.Add(fieldSpec(append(base, "x-evil", "a\r\nContent-Length: 9")...), false)
	f.Add(fieldSpec(append(base, "x-sp", " lead")...), true)
	f.Add(fieldSpec(":method", "POST", ":scheme", "http", ":path", "/", "host", "h.test:81", "trailer", "x-t"), false)
	f.Add(fieldSpec(":method", "OPTIONS", ":scheme", "http", ":path", "*", ":authority", "[::1]:8080"), true)
	f.Add(fieldSpec(":method", "CONNECT", ":authority", "h:443"), false)
	f.Add(fieldSpec(append(base, "host", "other.test", "content-length", "1", "content-length", "1")...), false)
	f.Add(fieldSpec(append(base, "x-obs", "caf\xc3\xa9", "x-tab", "a\tb")...), true)
	f.Fuzz(func(t *testing.T, spec []byte, end bool) {
		fields := parseFieldSpec(spec)
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		for _, fl := range fields {
			_ = enc.WriteField(hpack.HeaderField{Name: fl.name, Value: fl.value})
		}
		hc := &h2conn{cfg: &HTTP2Config{MaxHeaderListSize: DefaultH2MaxHeaderList}}
		hc.dec.Reset(4096)
		hc.sink.hc = hc
		st := &h2stream{hc: hc}
		k := &hc.sink
		if err := k.decodeRequest(st, buf.Bytes(), end); err != nil {
			t.Fatalf("decodeRequest: %v", err) // x/net wrote a valid block
		}
		if k.bad {
			return
		}
		// Accepted, answered or forwarded: every field was valid.
		size := 0
		for _, fl := range fields {
			size += len(fl.name) + len(fl.value) + 32
			if size <= DefaultH2MaxHeaderList && !validH2Field(fl.name, fl.value) {
				t.Fatalf("accepted invalid field %q: %q", fl.name, fl.value)
			}
		}
		if k.answer != errNone {
			return
		}
		checkH2Head(t, fields, st, end)
	})
}

// checkH2Head checks the HTTP/1.1 head decodeRequest wrote for fields against what httpparse reads.
func checkH2Head(t *testing.T, fields []reqField, st *h2stream, end bool) {
	t.Helper()
	head := st.in
	var req httpparse.Request
	req.Headers = make([]httpparse.Header, 0, 64)
	n, err := httpparse.ParseRequest(head, &req, &httpparse.Limits{MaxRequestLine: 1 << 20, MaxHeaderBytes: 1 << 20})
	if err == httpparse.ErrMissingHost && !bytes.Contains(head, []byte("\r\nHost: ")) {
		return // neither :authority nor host: the engine answers 400, as for HTTP/1.1
	}
	if err != nil || n != len(head) {
		t.Fatalf("head %q: parsed %d of %d bytes, %v", head, n, len(head), err)
	}
	pseudo := map[string]string{}
	var regular []string
	var cookies []string
	cl := ""
	host := ""
	for _, fl := range fields {
		switch {
		case strings.HasPrefix(fl.name, ":"):
			pseudo[fl.name] = fl.value
		case fl.name == "cookie":
			cookies = append(cookies, fl.value)
		case fl.name == "content-length":
			cl = fl.value
		case fl.name == "host":
			host = fl.value
		case fl.name == "te", fl.name == "http2-settings":
		default:
			regular = append(regular, fl.name+": "+fl.value)
		}
	}
	if len(cookies) > 0 {
		regular = append(regular, "cookie: "+strings.Join(cookies, "; "))
	}
	if got := string(req.Method.Bytes(head)); got != pseudo[":method"] {
		t.Fatalf("method %q, sent %q", got, pseudo[":method"])
	}
	if got := string(req.Target.Bytes(head)); got != pseudo[":path"] {
		t.Fatalf("target %q, sent %q", got, pseudo[":path"])
	}
	wantHost := host
	if a, ok := pseudo[":authority"]; ok {
		wantHost = a
	}
	if got := string(req.Host.Bytes(head)); got != wantHost {
		t.Fatalf("host %q, sent :authority %q host %q", got, pseudo[":authority"], host)
	}
	var got []string
	for _, h := range req.Headers {
		name := strings.ToLower(string(h.Name.Bytes(head)))
		switch name {
		case "host", "content-length", "transfer-encoding", "connection":
			continue
		}
		got = append(got, name+": "+string(h.Value.Bytes(head)))
	}
	if strings.Join(got, "\n") != strings.Join(regular, "\n") {
		t.Fatalf("fields\n got  %q\n sent %q\n head %q", got, regular, head)
	}
	switch {
	case cl != "":
		want, _ := strconv.ParseInt(cl, 10, 64)
		if req.Framing != httpparse.FramingLength || req.ContentLength != want || st.clLeft != want {
			t.Fatalf("content-length %s: framing %v length %d (left %d)", cl, req.Framing, req.ContentLength, st.clLeft)
		}
	case !end:
		if req.Framing != httpparse.FramingChunked || st.clLeft != -1 {
			t.Fatalf("body without content-length: framing %v", req.Framing)
		}
	default:
		if req.Framing == httpparse.FramingChunked || req.ContentLength > 0 {
			t.Fatalf("END_STREAM on HEADERS: framing %v length %d", req.Framing, req.ContentLength)
		}
	}
	if req.KeepAlive {
		t.Fatalf("head keeps the virtual connection alive: %q", head)
	}
}
