package core_test

import (
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/internal/testkit"
)

// BenchmarkProxyPrivateApp measures what AuthModule costs a request with a
// valid session: "session" goes through a route behind AuthModule with the
// module's session cookie, "plain" through the same route without the
// plugin, with the same request bytes (cookie included), on the same
// server. The two alternate over benchRounds rounds (ABBA order), so that
// the machine's drift spreads over both; compare the medians of ns/op and
// cpu-ns/op (see BENCHMARKS.md).
func BenchmarkProxyPrivateApp(b *testing.B) {
	const benchRounds = 8
	be := startFixedBackend(b)
	ss := privateapp.New(nil)
	ss.SetModules(map[string]*privateapp.Module{"mod": {ID: "mod", Type: "basic", Cookie: privateapp.CookieName("basic", "mod"), MaxAge: time.Hour}})
	cookie, err := ss.Create(&privateapp.User{Module: "mod", Name: "Alice", Email: "alice@oto.tools"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	q := quota.New(quota.Options{})
	srv := startProxy(b, core.Config{Loops: 1, Quotas: q, PrivateApps: ss})
	plain := testRoute("plain.test", be)
	publishKeys(b, srv, q, 2, nil, nil, plain, authRoute("session.test", "mod", false, be))
	order := [2]string{"plain", "session"}
	for r := range benchRounds {
		for i := range order {
			host := order[(i+r)%2] // plain session, session plain, ...
			b.Run(host, func(b *testing.B) {
				bc := newBenchClientFor(b, srv.Addr().String(), "GET /hello HTTP/1.1\r\nHost: "+host+".test\r\nUser-Agent: torii-bench\r\n"+
					"Accept: text/html\r\nCookie: theme=dark; oto-papps-basic-auth-mod="+cookie+"\r\n\r\n")
				testkit.ReportCPU(b, func() { sendRequests(b, bc, 1000) })
			})
		}
	}
}
