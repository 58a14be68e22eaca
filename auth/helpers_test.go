package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/testkit"
)

// stack is an engine with a login server, as cmd/torii wires them.
type stack struct {
	srv      *core.Server
	login    *auth.Server
	sessions *privateapp.Sessions
	addr     netip.AddrPort // the login server
}

// startStack runs an engine and a login server on loopback.
func startStack(t testing.TB, ss *privateapp.Sessions) *stack {
	t.Helper()
	if ss == nil {
		ss = privateapp.New(nil)
	}
	st := &stack{sessions: ss, login: auth.NewServer(auth.Options{Sessions: ss})}
	st.serveLogin(t)
	srv, err := core.NewServer(core.Config{Listen: "127.0.0.1:0", Loops: 1, PrivateApps: ss,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "proxy", srv.Run, srv.Ready())
	st.srv = srv
	return st
}

// serveLogin serves st.login on a new loopback port (the login routes of
// the next publish point at it).
func (st *stack) serveLogin(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: st.login, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	st.addr = netip.MustParseAddrPort(ln.Addr().String())
}

// publish compiles modules (authConfigs JSON documents) and routes as the
// admin API does and publishes them.
func (st *stack) publish(t testing.TB, modules []string, routes ...route.Route) {
	t.Helper()
	var cfgs []*auth.Config
	for _, m := range modules {
		c, err := auth.Decode([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, c)
	}
	st.login.Update(cfgs, routes)
	table, err := route.Compile(auth.LoginRoutes(routes, st.addr), route.CompileOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := core.BuildSnapshot(table, nil, nil, uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	st.srv.Publish(snap)
}

// browser is an HTTP client with a cookie jar that reaches every host
// through the engine and does not follow redirects.
func (st *stack) browser(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	addr := st.srv.Addr().String()
	return &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, a string) (net.Conn, error) {
			if strings.HasPrefix(a, "127.0.0.1:") && !strings.HasSuffix(a, ":80") {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", a) // a provider on loopback
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// privateRoute routes domain to target behind AuthModule (or
// MultiAuthModule when several modules are given).
func privateRoute(id, domain, target string, modules ...string) route.Route {
	ap := netip.MustParseAddrPort(target)
	r := route.Route{ID: id, Name: id, Enabled: true, Groups: []string{"default"},
		Frontend: route.Frontend{Domains: []string{domain}},
		Backend: route.Backend{Root: "/", LoadBalancing: route.LoadBalancing{Type: "RoundRobin"}, Client: route.DefaultClientConfig(),
			Targets: []route.Target{{ID: "t", Hostname: ap.Addr().String(), Port: int(ap.Port()), Weight: 1, Protocol: "HTTP/1.1"}}},
	}
	p := route.Plugin{Enabled: true, Plugin: "cp:otoroshi.next.plugins.AuthModule"}
	if len(modules) == 1 {
		p.Config, _ = json.Marshal(map[string]any{"auth_module": modules[0], "pass_with_apikey": false})
	} else {
		p.Plugin = "cp:otoroshi.next.plugins.MultiAuthModule"
		p.Config, _ = json.Marshal(map[string]any{"auth_modules": modules})
	}
	r.Plugins = append(r.Plugins, p)
	return r
}

// get sends a browser GET.
func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	return do(t, c, req)
}

func do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// formValue extracts the value of the hidden input name from a page.
func formValue(page, name string) string {
	i := strings.Index(page, `name="`+name+`" value="`)
	if i < 0 {
		return ""
	}
	rest := page[i+len(`name="`+name+`" value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

var _ = strconv.Itoa
