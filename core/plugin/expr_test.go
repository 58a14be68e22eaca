package plugin

import (
	"errors"
	"strings"
	"testing"
)

func TestExpr(t *testing.T) {
	x := parseReq(t, "GET /a/b?x=1&y=two HTTP/1.1\r\nHost: api.example.com:8080\r\nX-Trace: abc\r\nCookie: a=1; sid=s3\r\n\r\n")
	x.Key = testKey()
	f := func(in, want string) {
		t.Helper()
		e, err := CompileExpr(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := string(e.Append(nil, x)); got != want {
			t.Errorf("%q = %q, want %q", in, got, want)
		}
	}
	f("plain", "plain")
	f("${req.id}", "42")
	f("ip=${req.ip}", "ip=10.1.2.3")
	f("${req.path}|${req.uri}", "/a/b|/a/b?x=1&y=two")
	f("${req.host} ${req.domain}", "api.example.com:8080 api.example.com")
	f("${req.method} ${req.protocol} ${req.version}", "GET http HTTP/1.1")
	f("${req.headers.X-Trace}", "abc")
	f("${req.headers.X-None}", "no-header-X-None")
	f("${req.headers.X-None:dflt}", "dflt")
	f("${req.query.y}/${req.query.z}", "two/no-query-z")
	f("${req.cookies.sid}", "s3")
	f("${apikey.id} ${apikey.clientId} ${apikey.name}", "cid1 cid1 client one")
	f("${apikey.metadata.env} ${apikey.metadata.nope:x}", "prod x")
	f("${apikey.tags['1']}", "t2")
	f("${route.id} ${route.name} ${service.name} ${route.metadata.team}", "route_1 my-route my-route blue")
	f("${date}", "2026-12-06T15:04:05.123Z")
	f("${date.epoch_ms} ${now.epoch_sec}", "1796569445123 1796569445")
	f("${date.format('yyyy-MM-dd HH:mm:ss')}", "2026-12-06 15:04:05")
	f("${config.app.claim.sharedKey}", "secret")
	x.Key = nil
	f("${apikey.name}", "no-apikey")

	for _, bad := range []string{"${req.nope}", "${unterminated", "${date.format('yyyy-QQ')}", "${apikey.tags['x']}"} {
		_, err := CompileExpr(bad)
		if !errors.Is(err, ErrExpression) {
			t.Errorf("%q: err = %v, want ErrExpression", bad, err)
		}
		if err != nil && !strings.Contains(err.Error(), strings.TrimSuffix(strings.TrimPrefix(bad, "${"), "}")[:3]) {
			t.Errorf("%q: error %q does not name the expression", bad, err)
		}
	}
}
