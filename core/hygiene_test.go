package core_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/apikey"
)

// startHeadEcho runs a raw backend that answers each request with the exact
// bytes of its head (request line and field lines) as the body. Requests
// must have no body.
func startHeadEcho(t *testing.T) string {
	return startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" {
					break
				}
				head.WriteString(line)
			}
			body := head.String()
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
				return
			}
		}
	})
}

// fieldNames returns the lower-case names of the field lines of a head.
func fieldNames(head string) []string {
	var names []string
	for _, line := range strings.Split(head, "\r\n")[1:] {
		if name, _, ok := strings.Cut(line, ":"); ok {
			names = append(names, strings.ToLower(name))
		}
	}
	sort.Strings(names)
	return names
}

func has(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// Request fields whose names hold "_" are dropped by default (nginx's
// underscores_in_headers off) and kept with Global.UnderscoresInHeaders.
func TestUnderscoreHeadersDropped(t *testing.T) {
	be := startHeadEcho(t)
	srv, q := startKeyProxy(t, nil, nil, testRoute("us.test", be))
	const req = "GET /x HTTP/1.1\r\nHost: us.test\r\nX_Api_Key: k\r\nX-Forwarded_For: 6.6.6.6\r\nfoo_bar: 1\r\n" +
		"X-Kept: 1\r\nX-Also-Kept_: \r\n\r\n"
	c := dial(t, srv)
	br := bufio.NewReader(c)
	resp, body := roundTrip(t, c, br, req, "GET")
	names := fieldNames(body)
	if resp.StatusCode != 200 || !has(names, "x-kept") {
		t.Fatalf("status %d, backend saw %q", resp.StatusCode, body)
	}
	for _, n := range names {
		if strings.Contains(n, "_") {
			t.Errorf("%q reached the backend: %q", n, body)
		}
	}
	if strings.Contains(body, "6.6.6.6") {
		t.Errorf("an underscore X-Forwarded-For reached the backend: %q", body)
	}

	publishKeys(t, srv, q, 3, nil, &core.Global{UnderscoresInHeaders: true}, testRoute("us.test", be))
	_, body = roundTrip(t, c, br, req, "GET")
	names = fieldNames(body)
	for _, want := range []string{"x_api_key", "x-forwarded_for", "foo_bar", "x-also-kept_", "x-kept"} {
		if !has(names, want) {
			t.Errorf("with UnderscoresInHeaders, %q did not reach the backend: %q", want, body)
		}
	}
}

// API-key extraction never reads an "_" spelling of a credential field, and
// such a field does not reach the backend either.
func TestUnderscoreCredentialsIgnored(t *testing.T) {
	be := startHeadEcho(t)
	c, br := dialExtractionKeys(t, "usk.test", be)
	f := func(creds, wantErr string) {
		t.Helper()
		resp, body := roundTrip(t, c, br, "GET /x HTTP/1.1\r\nHost: usk.test\r\n"+creds+"\r\n\r\n", "GET")
		if resp.StatusCode != 400 || !strings.Contains(body, wantErr) {
			t.Errorf("%q: %d %q, want 400 %s", creds, resp.StatusCode, body, wantErr)
		}
	}
	f("Otoroshi_Client_Id: abc\r\nOtoroshi_Client_Secret: s3cr3t", "errors.no.api.key")
	f("X_Api_Key: idonly", "errors.no.api.key")
	f("Otoroshi_Token: "+apikey.BearerToken("abc", "s3cr3t"), "errors.no.api.key")
	// The secret alone, its id in an "_" field that does not count.
	f("Otoroshi-Client_Id: abc\r\nOtoroshi-Client-Secret: s3cr3t", "errors.no.api.key")
	// A real key with an underscore twin: the key authenticates, the twin
	// is not forwarded.
	resp, body := roundTrip(t, c, br, "GET /x HTTP/1.1\r\nHost: usk.test\r\nX-Api-Key: idonly\r\nX_Api_Key: other\r\n\r\n", "GET")
	if resp.StatusCode != 200 || strings.Contains(strings.ToLower(body), "api_key") || strings.Contains(strings.ToLower(body), "x-api-key") {
		t.Errorf("key with an underscore twin: %d %q", resp.StatusCode, body)
	}
}

// trailerAttack is a trailer section holding every kind of field that must
// not travel in a trailer, around two that may.
const trailerAttack = "X-Checksum: c1\r\nHost: evil.test\r\nAuthorization: Bearer evil\r\nContent-Length: 99\r\n" +
	"Transfer-Encoding: chunked\r\nContent-Type: text/evil\r\nSet-Cookie: s=1\r\nCookie: c=1\r\nTrailer: X-A\r\n" +
	"Otoroshi-Client-Id: abc\r\nOtoroshi-Request-Id: 1\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n" +
	"Cache-Control: no-store\r\nX_Under: 1\r\nX-Digest: d1\r\n"

// A client's request trailers reach the backend filtered (RFC 9110 §6.5.1).
func TestRequestTrailersFiltered(t *testing.T) {
	got := make(chan http.Header, 1)
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Trailer
		_, _ = w.Write(b)
	}))
	srv := startProxy(t, core.Config{}, testRoute("tr.test", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	resp, body := roundTrip(t, c, br, "POST /up HTTP/1.1\r\nHost: tr.test\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n0\r\n"+trailerAttack+"\r\n", "POST")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	checkTrailers(t, "request", <-got, "X-Checksum", "X-Digest")
	// The connection goes on.
	resp, _ = roundTrip(t, c, br, "POST /up HTTP/1.1\r\nHost: tr.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Only: 1\r\n\r\n", "POST")
	if resp.StatusCode != 200 {
		t.Fatalf("second request: %d", resp.StatusCode)
	}
	checkTrailers(t, "second request", <-got, "X-Only")
}

// A backend's response trailers reach the client filtered; "_" names are
// kept in responses (underscores_in_headers is about requests).
func TestResponseTrailersFiltered(t *testing.T) {
	be := startRawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"+
				"5\r\nhello\r\n0\r\n"+trailerAttack+"\r\n"); err != nil {
				return
			}
		}
	})
	srv := startProxy(t, core.Config{}, testRoute("tr.test", be))
	c := dial(t, srv)
	br := bufio.NewReader(c)
	for range 2 {
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: tr.test\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		checkTrailers(t, "response", resp.Trailer, "X-Checksum", "X-Digest", "X_under")
	}
}

// checkTrailers fails unless tr holds exactly the fields want.
func checkTrailers(t *testing.T, what string, tr http.Header, want ...string) {
	t.Helper()
	var names []string
	for k := range tr {
		names = append(names, k)
	}
	sort.Strings(names)
	sort.Strings(want)
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("%s trailers %v, want %v", what, tr, want)
	}
}
