package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/internal/testkit"
)

const chromePath = "/usr/bin/chromium"

// whoBackend is an app behind Torii: its page says who the Otoroshi-Claim
// names.
func whoBackend(t testing.TB) string {
	return testkit.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "nobody"
		if parts := strings.Split(r.Header.Get("Otoroshi-Claim"), "."); len(parts) == 3 {
			p, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var c struct {
				User struct{ Email string } `json:"user"`
			}
			if json.Unmarshal(p, &c) == nil && c.User.Email != "" {
				who = c.User.Email
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html><body><p id="who">%s</p></body></html>`, html.EscapeString(who))
	}))
}

// A real browser (headless Chromium) logs in through the basic module's
// form and through the OpenID provider, reaches the app, which sees the
// user in its Otoroshi-Claim, and logs out.
func TestBrowserLogin(t *testing.T) {
	if _, err := exec.LookPath(chromePath); err != nil {
		t.Fatalf("the browser tests need Chromium at %s: install the Debian package `chromium` (tools/deps.sh): %v", chromePath, err)
	}
	be := whoBackend(t)
	st := startStack(t, nil)
	port := st.srv.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndexByte(port, ':')+1:]
	o := startOP(t, "http://app.test:"+port+auth.Prefix+"callback")
	st.publish(t, []string{basicModule(t, "mod_basic", ""), oidcModule(o.issuer)},
		withInfos(privateRoute("r_basic", "basic.test", be, "mod_basic"), "Latest"),
		withInfos(privateRoute("r_oidc", "app.test", be, "mod_oidc"), "Latest"))

	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromePath), chromedp.NoSandbox, chromedp.Headless,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("host-resolver-rules", "MAP *.test 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()))
	defer cancelA()
	ctx, cancelC := chromedp.NewContext(actx)
	defer cancelC()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (at %s)", what, err, loc)
		}
	}
	who := func(what, want string) {
		t.Helper()
		if err := waitFor(ctx, "#who", 15*time.Second); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#who")))
		if err != nil || got != want {
			t.Fatalf("%s: the app saw %q (%v), want %q", what, got, err, want)
		}
	}

	basic := "http://basic.test:" + port
	run("basic: the app sends the browser to the login form",
		chromedp.Navigate(basic+"/reports?q=1"),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#username"), "alice@oto.tools"),
		chromedp.SendKeys(chromedp.CSS("#password"), "wonderland"),
		chromedp.Click(chromedp.CSS("button[type=submit]")))
	who("basic: after login", "alice@oto.tools")
	if loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.pathname + location.search")); loc != "/reports?q=1" {
		t.Fatalf("basic: back at %q, want the asked URL", loc)
	}
	run("basic: logout", chromedp.Navigate(basic+auth.Prefix+"logout?route=r_basic"),
		chromedp.WaitVisible(chromedp.CSS("main p")))
	run("basic: logged out, the app asks for a login again", chromedp.Navigate(basic+"/reports"),
		chromedp.WaitVisible(chromedp.CSS("#password")))

	app := "http://app.test:" + port
	run("oidc: the app sends the browser to the provider",
		chromedp.Navigate(app+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS("#op-user")),
		chromedp.SendKeys(chromedp.CSS("#op-user"), opUser),
		chromedp.SendKeys(chromedp.CSS("#op-password"), opPassword),
		chromedp.Click(chromedp.CSS("#op-login")))
	who("oidc: after login", opEmail)
	run("oidc: logout goes through the provider", chromedp.Navigate(app+auth.Prefix+"logout?route=r_oidc"))
	if n := len(st.sessions.List()); n != 0 {
		t.Fatalf("%d sessions after both logouts", n)
	}
	run("oidc: logged out, the app asks the provider again", chromedp.Navigate(app+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS("#op-user")))
}

// waitFor waits for a selector, bounded, and on failure says where the
// browser is and what it shows.
func waitFor(ctx context.Context, sel string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+strconvQuote(sel)+`) !== null`)); err == nil && ok {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	return fmt.Errorf("%s not shown within %v at %s: %.600s", sel, d, loc, body)
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
