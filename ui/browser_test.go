package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/pki"
	"golang.org/x/crypto/bcrypt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/torii-gateway/torii/admin"
	"github.com/torii-gateway/torii/cluster"
	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/ui"
)

const (
	adminID     = "uiadmintest00001"
	adminSecret = "ui-admin-secret-for-browser-tests"
	chromePath  = "/usr/bin/chromium"
)

// clusterKey is the cluster key of the UI tests' leader.
var clusterKey = cluster.Key{ClientID: "cluster_ui", Secret: "ui-cluster-secret"}

// gateway is the whole stack of the browser tests, in process: a real engine on a loopback port,
// the admin API with the UI on another, and a real backend.
type gateway struct {
	engine  *core.Server
	admin   *admin.Server
	base    string // admin URL, http://127.0.0.1:port
	backend int    // backend port
	client  *http.Client
}

func startGateway(t *testing.T) *gateway { t.Helper(); return startGatewayIn(t, t.TempDir()) }

// startGatewayIn is startGateway on the database of dataDir (which may hold a configuration).
func startGatewayIn(t *testing.T, dataDir string) *gateway {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	set := metric.NewSet(1)
	live := metric.NewLive(set)
	counters := quota.New(quota.Options{})
	// Private apps (auth modules, the back-office login through one of them), as torii serve
	// wires them; the login server is not served: the UI only uses its Login.
	sessions := privateapp.New(nil)
	login := auth.NewServer(auth.Options{Sessions: sessions, Logger: log})
	eng, err := core.NewServer(core.Config{Listen: "127.0.0.1:0", Loops: 1, Logger: log,
		Quotas: counters, Metrics: set, Live: live, PrivateApps: sessions})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(ctx) }()
	select {
	case <-eng.Ready():
	case err := <-engDone:
		t.Fatalf("engine did not start: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("engine did not start within 5s")
	}
	go live.Run(ctx)
	leader := cluster.NewLeader(cluster.LeaderOptions{Key: clusterKey, Name: "ui-leader", Version: "test", Logger: log})
	s, err := admin.New(admin.Options{
		DataDir: dataDir, Publisher: eng, Logger: log, UI: ui.Handler(),
		Quotas: counters, Metrics: set, Live: live,
		BootstrapClientID: adminID, BootstrapClientSecret: adminSecret,
		Cluster: leader, PrivateApps: login,
	})
	if err != nil {
		t.Fatal(err)
	}
	leader.SetSource(s)
	if err := leader.Refresh(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminDone := make(chan error, 1)
	go func() { adminDone <- s.Serve(ctx, ln) }()

	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello from the backend "+r.URL.Path)
	})}
	go func() { _ = backend.Serve(bln) }()
	t.Cleanup(func() {
		backend.Close()
		cancel()
		for name, done := range map[string]chan error{"admin": adminDone, "engine": engDone} {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("%s did not stop within 10s", name)
			}
		}
		if err := s.Close(); err != nil {
			t.Errorf("admin close: %v", err)
		}
	})
	return &gateway{engine: eng, admin: s, base: "http://" + ln.Addr().String(),
		backend: bln.Addr().(*net.TCPAddr).Port, client: &http.Client{Timeout: 5 * time.Second}}
}

// proxy does one GET through the engine with Host host and the given headers.
func (g *gateway) proxy(host string, hdr map[string]string) (int, string, error) {
	r, _ := http.NewRequest("GET", "http://"+g.engine.Addr().String()+"/hello", nil)
	r.Host = host
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	res, err := g.client.Do(r)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// adminGet reads the admin API with the key, for checks the browser does not make.
func (g *gateway) adminGet(t *testing.T, path string, v any) {
	t.Helper()
	r, _ := http.NewRequest("GET", g.base+path, nil)
	r.SetBasicAuth(adminID, adminSecret)
	res, err := g.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// adminSend writes to the admin API with the key and returns the decoded answer.
func (g *gateway) adminSend(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(method, g.base+path, bytes.NewReader(raw))
	r.SetBasicAuth(adminID, adminSecret)
	r.Header.Set("Content-Type", "application/json")
	res, err := g.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, out)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, out)
	}
	return v
}

// routeID returns the id of the stored route named name.
func (g *gateway) routeID(t *testing.T, name string) string {
	t.Helper()
	var routes []map[string]any
	g.adminGet(t, "/api/routes", &routes)
	for _, r := range routes {
		if r["name"] == name {
			id, _ := r["id"].(string)
			return id
		}
	}
	t.Fatalf("route %q not stored: %v", name, routes)
	return ""
}

// browser starts headless Chromium. The test fails (never skips) when it is missing.
func browser(t *testing.T) (context.Context, *pageErrors) {
	t.Helper()
	if _, err := exec.LookPath(chromePath); err != nil {
		t.Fatalf("the browser tests need Chromium at %s: install the Debian package `chromium` (apt-get install chromium, or tools/deps.sh): %v", chromePath, err)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromePath), chromedp.NoSandbox, chromedp.Headless,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true), chromedp.UserDataDir(t.TempDir()))
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("cannot start Chromium: %v", err)
	}
	errs := &pageErrors{}
	errs.watch(ctx)
	return ctx, errs
}

// pageErrors collects the uncaught exceptions and console.error calls of the page (not the
// browser's own log, which lists the expected 401s of a wrong login).
type pageErrors struct {
	mu   sync.Mutex
	msgs []string
}

func (p *pageErrors) watch(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && len(m.Args) > 0) {
				p.mu.Lock()
				p.msgs = append(p.msgs, m.String())
				p.mu.Unlock()
			}
		}
	}()
}

func (p *pageErrors) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.msgs {
		t.Errorf("page error: %s", m)
	}
	p.msgs = nil
}

// waitJS polls a JavaScript boolean expression until it is true or timeout passes.
func waitJS(ctx context.Context, expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%s: %w", expr, err)
			}
			return fmt.Errorf("still false after %v: %s", timeout, expr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// toastText returns the text of the toasts on screen, to explain a failure.
func toastText(ctx context.Context) string {
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('toasts').innerText`))
	return s
}

// screenshot writes a PNG to docs/screenshots/<name> when TORII_SCREENSHOTS=1, else to a temp dir.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("TORII_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Notices from earlier steps would cover the page.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById('toasts').replaceChildren(), true)`)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// TestBrowser drives the UI in headless Chromium against a real engine, admin API and backend.
// The scenarios share one browser and run in order (each builds on the previous one).
func TestBrowser(t *testing.T) {
	g := startGateway(t)
	ctx, errs := browser(t)
	defer errs.check(t)
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.Logf("toasts: %q", toastText(ctx))
		}
	}
	do := func(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v (toasts: %q)", what, err, toastText(ctx))
		}
	}
	wait := func(t *testing.T, expr string, timeout time.Duration) {
		t.Helper()
		if err := waitJS(ctx, expr, timeout); err != nil {
			t.Fatalf("%v (toasts: %q)", err, toastText(ctx))
		}
	}
	// goTo changes the page through the hash, as a click on the menu does (a same-document
	// navigation, which chromedp.Navigate would wait on for a load event that never comes).
	goTo := func(t *testing.T, hash string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash = `+strconv.Quote(hash))); err != nil {
			t.Fatalf("go to %s: %v", hash, err)
		}
	}
	js := func(t *testing.T, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(`+expr+`, true)`)); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
	}
	// newRoute fills the route form for a new route on the backend and saves it.
	newRoute := func(t *testing.T, name, domain string, port string, apikey bool) {
		t.Helper()
		goTo(t, "#/routes/new")
		do(t, "open the route form", chromedp.WaitVisible(css(`#route-form`)))
		do(t, "fill the route form",
			chromedp.SetValue(css(`#route-form [name=name]`), name),
			chromedp.SetValue(css(`#route-form [data-field="frontend.domains"]`), domain),
			chromedp.SetValue(css(`#targets [name=hostname]`), "127.0.0.1"),
			chromedp.SetValue(css(`#targets [name=port]`), port))
		if apikey {
			do(t, "require an API key", chromedp.Click(css(`#route-form [name="plugins.apikey"]`)))
		}
		do(t, "save the route", chromedp.Click(css(`#route-save`)))
	}

	step("1 login", func(t *testing.T) {
		do(t, "open the UI", chromedp.Navigate(g.base+"/"), chromedp.WaitVisible(css(`#login-form`)))
		// A wrong secret is refused on the form.
		do(t, "wrong login", chromedp.SendKeys(css(`#login-id`), adminID), chromedp.SendKeys(css(`#login-secret`), "nope"),
			chromedp.Click(css(`#login-submit`)), chromedp.WaitVisible(css(`#login-error`)))
		do(t, "login", chromedp.SetValue(css(`#login-secret`), adminSecret), chromedp.Click(css(`#login-submit`)),
			chromedp.WaitVisible(css(`#shell`)))
		who, err := chromedp.Run(ctx, chromedp.Text(css(`#who`)))
		if err != nil || who != adminID {
			t.Fatalf("logged in as %q (%v), want %s", who, err, adminID)
		}
		// Every Content-Security-Policy violation from now on is recorded: the UI must run under
		// its policy (no inline script or style) without tripping it.
		js(t, `window.__csp = [], document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sample))`)
		// The cookie is HttpOnly: the page's script cannot read it.
		if c, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`)); strings.Contains(c, admin.SessionCookie) {
			t.Fatalf("session cookie visible to scripts: %q", c)
		}
	})

	step("2 route through the form proxies", func(t *testing.T) {
		newRoute(t, "Web app", "ui-test.local", fmt.Sprint(g.backend), false)
		wait(t, `location.hash === '#/routes' && !!document.querySelector('#routes-list tr[data-id]')`, 5*time.Second)
		var last string
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, body, err := g.proxy("ui-test.local", nil)
			if err == nil && st == http.StatusOK && strings.HasPrefix(body, "hello from the backend") {
				break
			}
			last = fmt.Sprintf("%d %q %v", st, body, err)
			if time.Now().After(deadline) {
				t.Fatalf("the route does not proxy: %s", last)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Search filters the list.
		do(t, "search", chromedp.SendKeys(css(`#route-search`), "zzz"))
		wait(t, `document.querySelectorAll('#routes-list tr[data-id]').length === 0 && document.querySelector('#routes-list .empty') !== null`, 2*time.Second)
		// The editor of the route shows its live statistics and its target's health, address and
		// circuit breaker, read from GET /api/routes/{id}/targets.
		goTo(t, "#/routes/"+g.routeID(t, "Web app"))
		wait(t, `!!document.querySelector('#route-live .stat') && !!document.querySelector('#route-targets tr[data-target] .pill.on')`, 5*time.Second)
		wait(t, fmt.Sprintf(`(() => { const tds = document.querySelectorAll('#route-targets tr[data-target] td');
			return tds.length === 6 && tds[1].textContent === '127.0.0.1:%d' && tds[2].textContent === '✓' && tds[3].textContent === 'closed'; })()`, g.backend), 5*time.Second)
	})

	step("3 api key quota", func(t *testing.T) {
		newRoute(t, "Keyed", "keyed.local", fmt.Sprint(g.backend), true)
		wait(t, `location.hash === '#/routes'`, 5*time.Second)
		routeID := g.routeID(t, "Keyed")
		goTo(t, "#/apikeys/new")
		do(t, "open the key form", chromedp.WaitVisible(css(`#apikey-editor`)),
			chromedp.SetValue(css(`#apikey-editor [name=clientName]`), "Browser key"),
			chromedp.SetValue(css(`#apikey-editor [name=throttlingQuota]`), "3"),
			chromedp.Click(css(`input[data-entity="route_`+routeID+`"]`)),
			chromedp.Click(css(`#apikey-save`)),
			chromedp.WaitVisible(css(`#secret-box`)))
		id, err := chromedp.Run(ctx, chromedp.Text(css(`#new-client-id`)))
		if err != nil {
			t.Fatal(err)
		}
		secret, err := chromedp.Run(ctx, chromedp.Text(css(`#new-client-secret`)))
		if err != nil || len(secret) != 64 {
			t.Fatalf("secret %q %v", secret, err)
		}
		creds := map[string]string{"Otoroshi-Client-Id": id, "Otoroshi-Client-Secret": secret}
		if st, _, err := g.proxy("keyed.local", nil); err != nil || st != http.StatusUnauthorized && st != http.StatusBadRequest {
			t.Errorf("call without a key: status %d %v, want 401 or 400 (the engine does not enforce ApikeyCalls)", st, err)
		}
		// The throttling window is a fixed slot of the wall clock: make the calls, and read the
		// bar, early in one slot.
		if into := time.Duration(time.Now().UnixNano() % int64(quota.ThrottleWindow)); into > 2*time.Second {
			time.Sleep(quota.ThrottleWindow - into)
		}
		var statuses []int
		for range 4 {
			st, _, err := g.proxy("keyed.local", creds)
			if err != nil {
				t.Fatal(err)
			}
			statuses = append(statuses, st)
		}
		if fmt.Sprint(statuses) != "[200 200 200 429]" {
			t.Errorf("4 calls with a quota of 3 per window: statuses %v, want [200 200 200 429] (the engine does not count API-key quotas)", statuses)
		}
		wait(t, `(() => { const b = document.querySelector('tr[data-id="`+id+`"] .bar[data-kind=window]'); return !!b && b.dataset.used === '3' && b.dataset.limit === '3' && b.classList.contains('full'); })()`, 5*time.Second)
	})

	step("3b api key reset, rotate, disable, delete", func(t *testing.T) {
		id, err := chromedp.Run(ctx, chromedp.Text(css(`#new-client-id`)))
		if err != nil {
			t.Fatal(err)
		}
		oldSecret, _ := chromedp.Run(ctx, chromedp.Text(css(`#new-client-secret`)))
		row := `tr[data-id="` + id + `"] `
		js(t, `window.confirm = () => true`)
		js(t, `document.getElementById('secret-box').remove()`)
		do(t, "reset quotas", chromedp.Click(css(row+`.key-reset`)))
		wait(t, `document.querySelector('`+row+`.bar[data-kind=window]').dataset.used === '0'`, 5*time.Second)
		do(t, "rotate", chromedp.Click(css(row+`.key-rotate`)), chromedp.WaitVisible(css(`#secret-box`)))
		newSecret, err := chromedp.Run(ctx, chromedp.Text(css(`#new-client-secret`)))
		if err != nil || len(newSecret) != 64 || newSecret == oldSecret {
			t.Fatalf("rotated secret %q %v", newSecret, err)
		}
		call := func(secret string) int {
			st, _, err := g.proxy("keyed.local", map[string]string{"Otoroshi-Client-Id": id, "Otoroshi-Client-Secret": secret})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		if st := call(oldSecret); st == http.StatusOK {
			t.Errorf("the old secret still works after a rotation")
		}
		if st := call(newSecret); st != http.StatusOK {
			t.Errorf("the new secret: status %d", st)
		}
		do(t, "disable", chromedp.Click(css(row+`.key-toggle`)))
		wait(t, `document.querySelector('`+row+`.pill').textContent === 'disabled'`, 5*time.Second)
		if st := call(newSecret); st == http.StatusOK {
			t.Errorf("a disabled key still works")
		}
		do(t, "delete", chromedp.Click(css(row+`.key-delete`)))
		wait(t, `!document.querySelector('`+row+`') && !!document.querySelector('#apikeys-list .empty')`, 5*time.Second)
	})

	step("4 validation error next to its field", func(t *testing.T) {
		newRoute(t, "Bad port", "bad.local", "70000", false)
		wait(t, `!!document.querySelector('.field-error[data-error-for="backend.targets[0].port"]')`, 5*time.Second)
		next, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-field="backend.targets[0].port"]').closest('label').querySelector('.field-error').dataset.errorFor`))
		if err != nil || next != "backend.targets[0].port" {
			t.Fatalf("error not next to the port field: %q %v", next, err)
		}
		if h, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`)); h != "#/routes/new" {
			t.Fatalf("left the form on a validation error: %s", h)
		}
		js(t, `window.scrollTo(0, 0)`)
		screenshot(t, ctx, "route-editor.png")
	})

	step("4c certificates", func(t *testing.T) {
		soon, err := pki.Mint(pki.MintOptions{CommonName: "soon.test", Hosts: []string{"soon.test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		g.adminSend(t, "POST", "/api/certificates", map[string]any{"id": "soon", "name": "Soon", "chain": soon.ChainPEM, "privateKey": soon.KeyPEM})
		goTo(t, "#/certificates")
		wait(t, `document.querySelector('#certs-list tr[data-id="soon"] .expiry')?.textContent.startsWith('expires in 9 d') ||
			document.querySelector('#certs-list tr[data-id="soon"] .expiry')?.textContent.startsWith('expires in 10 d')`, 5*time.Second)
		do(t, "malformed chain", chromedp.SetValue(css(`#cert-form [name=chain]`), "not a certificate"), chromedp.Click(css(`#cert-save`)))
		wait(t, `document.querySelector('#cert-form [name=chain]').closest('label').querySelector('.field-error')?.dataset.errorFor === 'chain'`, 5*time.Second)
		screenshot(t, ctx, "certificates.png")
	})

	step("4b groups and global config", func(t *testing.T) {
		goTo(t, "#/groups")
		do(t, "create a group", chromedp.WaitVisible(css(`#group-form`)), chromedp.SetValue(css(`#group-form [name=name]`), "Partners"),
			chromedp.Click(css(`#group-save`)))
		wait(t, `[...document.querySelectorAll('#groups-list td')].some((td) => td.textContent === 'Partners')`, 5*time.Second)
		goTo(t, "#/global")
		do(t, "bad block list", chromedp.WaitVisible(css(`#global-form`)), chromedp.SetValue(css(`#global-block`), "not-an-ip"),
			chromedp.Click(css(`#global-save`)))
		wait(t, `document.getElementById('global-block').closest('label').querySelector('.field-error')?.dataset.errorFor === 'ipFiltering.blacklist[0]'`, 5*time.Second)
		do(t, "bad concurrency limit", chromedp.SetValue(css(`#global-block`), "203.0.113.7"),
			chromedp.SetValue(css(`#global-max-concurrent`), "lots"), chromedp.Click(css(`#global-save`)))
		wait(t, `document.getElementById('global-max-concurrent').closest('label').querySelector('.field-error')?.dataset.errorFor === 'maxConcurrentRequests'`, 5*time.Second)
		do(t, "good block list and concurrency limit", chromedp.SetValue(css(`#global-max-concurrent`), "250"),
			chromedp.Click(css(`#global-limit-concurrent`)), chromedp.Click(css(`#global-save`)))
		wait(t, `document.getElementById('toasts').innerText.includes('Global config saved')`, 5*time.Second)
		var global struct {
			IPFiltering             struct{ Blacklist []string } `json:"ipFiltering"`
			LimitConcurrentRequests bool                         `json:"limitConcurrentRequests"`
			MaxConcurrentRequests   int                          `json:"maxConcurrentRequests"`
			UnderscoresInHeaders    bool                         `json:"underscoresInHeaders"`
		}
		g.adminGet(t, "/api/globalconfig", &global)
		if fmt.Sprint(global.IPFiltering.Blacklist) != "[203.0.113.7]" {
			t.Fatalf("block list stored: %v", global.IPFiltering.Blacklist)
		}
		if !global.LimitConcurrentRequests || global.MaxConcurrentRequests != 250 || global.UnderscoresInHeaders {
			t.Fatalf("request settings stored: %+v", global)
		}
	})

	step("4d auth modules", func(t *testing.T) {
		goTo(t, "#/auths")
		do(t, "a module with a plain-text password", chromedp.WaitVisible(css(`#auth-form`)),
			chromedp.SetValue(css(`#auth-doc`), `{"type":"basic","id":"auth_ui","name":"Staff","users":[{"name":"Ann","email":"ann@oto.tools","password":"plain"}]}`),
			chromedp.Click(css(`#auth-save`)))
		wait(t, `document.getElementById('auth-errors').textContent.includes('users[0].password')`, 5*time.Second)
		hash, err := bcrypt.GenerateFromPassword([]byte("ann-pass"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		do(t, "a good module", chromedp.SetValue(css(`#auth-doc`), `{"type":"basic","id":"auth_ui","name":"Staff","sessionMaxAge":3600,"users":[{"name":"Ann","email":"ann@oto.tools","password":"`+string(hash)+`"}]}`),
			chromedp.Click(css(`#auth-save`)))
		wait(t, `!!document.querySelector('#auths-list tr[data-id="auth_ui"]')`, 5*time.Second)
		var mod struct{ Type, Name string }
		g.adminGet(t, "/api/auths/auth_ui", &mod)
		if mod.Type != "basic" || mod.Name != "Staff" {
			t.Fatalf("stored module: %+v", mod)
		}
	})

	step("4c route disable, enable, delete", func(t *testing.T) {
		goTo(t, "#/routes")
		js(t, `window.confirm = () => true`)
		row := `#routes-list tr[data-id="` + g.routeID(t, "Keyed") + `"] `
		do(t, "disable", chromedp.WaitVisible(css(row)), chromedp.Click(css(row+`.route-toggle`)))
		wait(t, `document.querySelector('`+row+`.pill').textContent === 'disabled'`, 5*time.Second)
		do(t, "enable", chromedp.Click(css(row+`.route-toggle`)))
		wait(t, `document.querySelector('`+row+`.pill').textContent === 'enabled'`, 5*time.Second)
		do(t, "delete", chromedp.Click(css(row+`.route-delete`)))
		wait(t, `!document.querySelector('`+row+`')`, 5*time.Second)
		if st, _, err := g.proxy("keyed.local", nil); err != nil || st == http.StatusOK || st == http.StatusUnauthorized {
			t.Fatalf("deleted route still routed: %d %v", st, err)
		}
	})

	step("5 dashboard moves under load", func(t *testing.T) {
		goTo(t, "#/dashboard")
		do(t, "open the dashboard", chromedp.WaitVisible(css(`#chart-rps`)))
		// A short bounded load: at most 2 s or 2000 requests.
		stop := time.Now().Add(2 * time.Second)
		for n := 0; n < 2000 && time.Now().Before(stop); n++ {
			if _, _, err := g.proxy("ui-test.local", nil); err != nil {
				t.Fatal(err)
			}
		}
		wait(t, `Number(document.getElementById('chart-rps').dataset.max) > 0 && Number(document.getElementById('chart-rps').dataset.points) >= 2`, 5*time.Second)
		screenshot(t, ctx, "dashboard.png")
		wait(t, `!!document.querySelector('#top-routes td a')`, 5*time.Second)
		do(t, "phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		screenshot(t, ctx, "dashboard-phone.png")
		do(t, "laptop size", chromedp.EmulateViewport(1280, 800))
	})

	step("6 import an export", func(t *testing.T) {
		path, err := filepath.Abs(filepath.Join("testdata", "otoroshi-export.json"))
		if err != nil {
			t.Fatal(err)
		}
		goTo(t, "#/importexport")
		js(t, `window.confirm = () => true`)
		// The export downloads (through a blob link) without an error.
		js(t, `document.getElementById('toasts').replaceChildren()`)
		do(t, "export", chromedp.WaitVisible(css(`#export`)), chromedp.Click(css(`#export`)))
		wait(t, `!document.getElementById('export').disabled`, 5*time.Second)
		if s := toastText(ctx); s != "" {
			t.Fatalf("export: %q", s)
		}
		do(t, "import", chromedp.WaitVisible(css(`#import-file`)),
			chromedp.SetUploadFiles(css(`#import-file`), []string{path}),
			chromedp.Click(css(`#import`)))
		wait(t, `!!document.querySelector('#import-report li[data-imported]')`, 5*time.Second)
		rep, err := chromedp.Run(ctx, chromedp.Text(css(`#import-report`)))
		if err != nil || !strings.Contains(rep, "Import report") || !strings.Contains(rep, "routes: 1") {
			t.Fatalf("report %q %v", rep, err)
		}
		// The audit log shows it.
		goTo(t, "#/audit")
		do(t, "audit", chromedp.WaitVisible(css(`#audit-list table`)))
		if a, _ := chromedp.Run(ctx, chromedp.Text(css(`#audit-list`))); !strings.Contains(a, "FULL_OTOROSHI_IMPORT") {
			t.Fatalf("audit log: %q", a)
		}
	})

	step("6b hostile names render as text", func(t *testing.T) {
		// Names, descriptions, tags, metadata, ids and error messages holding markup must show
		// as the characters they are, never become elements, and never run.
		const payload = `<img src=x onerror="window.__xss=1">`
		q := strconv.Quote(payload)
		group := g.adminSend(t, "POST", "/api/groups", map[string]any{"id": payload, "name": payload, "description": payload,
			"tags": []string{payload}, "metadata": map[string]string{payload: payload}})
		route := g.adminSend(t, "POST", "/api/routes", map[string]any{"name": payload, "description": payload,
			"tags": []string{payload}, "metadata": map[string]string{payload: payload},
			"frontend": map[string]any{"domains": []string{"xss.local"}},
			"backend":  map[string]any{"targets": []any{map[string]any{"hostname": "127.0.0.1", "port": g.backend}}}})
		key := g.adminSend(t, "POST", "/api/apikeys", map[string]any{"clientName": payload, "description": payload,
			"authorizedEntities": []string{"group_" + payload}, "metadata": map[string]string{payload: payload}})
		routeID, _ := route["id"].(string)
		keyID, _ := key["clientId"].(string)
		if group["id"] != payload || routeID == "" || keyID == "" {
			t.Fatalf("entities not created: %v %v %v", group, route, key)
		}
		for range 3 {
			if st, _, err := g.proxy("xss.local", nil); err != nil || st != http.StatusOK {
				t.Fatalf("the hostile route does not proxy: %d %v", st, err)
			}
		}
		shows := `document.getElementById('main').textContent.includes(` + q + `)`
		for _, page := range []string{"#/routes", "#/routes/" + routeID, "#/apikeys", "#/apikeys/" + keyID, "#/groups", "#/audit", "#/dashboard"} {
			goTo(t, page)
			expr := shows
			if page == "#/dashboard" {
				expr = `[...document.querySelectorAll('#top-routes td a')].some((a) => a.textContent === ` + q + `)`
			}
			wait(t, expr, 5*time.Second)
		}
		// An error message that quotes the markup (a missing route named by it, Go-quoted) shows
		// it as text.
		js(t, `document.getElementById('toasts').replaceChildren()`)
		goTo(t, "#/routes/"+url.PathEscape(payload+"-missing"))
		wait(t, `document.getElementById('toasts').textContent.includes('route "<img src=x onerror=')`, 5*time.Second)
		wait(t, `window.__xss === undefined && document.querySelector('img[src="x"]') === null`, time.Second)
		if v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp`)); err != nil || len(v) != 0 {
			t.Fatalf("Content-Security-Policy violations: %q %v", v, err)
		}
		js(t, `document.getElementById('toasts').replaceChildren()`)
	})

	step("6c cluster members", func(t *testing.T) {
		// A worker calls the leader (as torii worker does, with its headers and the cluster key).
		req, _ := http.NewRequest("GET", g.base+"/api/cluster/state", nil)
		req.SetBasicAuth(clusterKey.ClientID, clusterKey.Secret)
		for k, v := range map[string]string{cluster.HeaderWorkerName: "worker-ui", cluster.HeaderWorkerID: "w-ui",
			cluster.HeaderWorkerVersion: "9.9.9", cluster.HeaderWorkerHTTPPort: "8081", cluster.HeaderWorkerRedis: "down",
			cluster.HeaderWorkerLeases: "42", cluster.HeaderWorkerStateFrom: strconv.FormatInt(time.Now().UnixMilli(), 10)} {
			req.Header.Set(k, v)
		}
		res, err := g.client.Do(req)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("worker call: %v %v", res, err)
		}
		res.Body.Close()
		goTo(t, "#/cluster")
		wait(t, `(() => { const r = document.querySelector('#cluster-members tr[data-id="w-ui"]'); return r !== null &&
			r.textContent.includes('worker-ui') && r.textContent.includes('127.0.0.1:8081') && r.textContent.includes('9.9.9') &&
			r.textContent.includes('42') && r.textContent.includes('unreachable'); })()`, 5*time.Second)
	})

	step("7 logout", func(t *testing.T) {
		do(t, "logout", chromedp.Click(css(`#logout`)), chromedp.WaitVisible(css(`#login-form`)))
		do(t, "reload", chromedp.Reload(), chromedp.WaitVisible(css(`#login-form`)))
	})

	step("8 back-office login through an auth module", func(t *testing.T) {
		hash, err := bcrypt.GenerateFromPassword([]byte("ann-pass"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		g.adminSend(t, "POST", "/api/auths", map[string]any{"type": "basic", "id": "auth_bo", "name": "Staff", // step 6 replaced everything
			"users": []any{map[string]any{"name": "Ann", "email": "ann@oto.tools", "password": string(hash), "metadata": map[string]any{"toriiAdmin": true}}}})
		var global map[string]any
		g.adminGet(t, "/api/globalconfig", &global)
		global["backOfficeAuthRef"] = "auth_bo"
		g.adminSend(t, "PUT", "/api/globalconfig", global)
		do(t, "the login page offers the module", chromedp.Reload(), chromedp.WaitVisible(css(`#sso-form`)))
		if title, _ := chromedp.Run(ctx, chromedp.Text(css(`#sso-title`))); title != "Log in with Staff" {
			t.Fatalf("SSO title %q", title)
		}
		do(t, "log in as Ann", chromedp.SendKeys(css(`#sso-user`), "ann@oto.tools"), chromedp.SendKeys(css(`#sso-password`), "ann-pass"),
			chromedp.Click(css(`#sso-submit`)), chromedp.WaitVisible(css(`#shell`)))
		wait(t, `document.getElementById('who').textContent === 'user:ann@oto.tools'`, 5*time.Second)
		do(t, "logout", chromedp.Click(css(`#logout`)), chromedp.WaitVisible(css(`#login-form`)))
	})
}
