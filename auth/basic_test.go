package auth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

// basicModule is a basic module with alice (password "wonderland").
func basicModule(t testing.TB, id string, extra string) string {
	h, err := bcrypt.GenerateFromPassword([]byte("wonderland"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return `{"type":"basic","id":"` + id + `","name":"Basic ` + id + `","desc":"","basicAuth":false,"sessionMaxAge":3600` + extra + `,
		"users":[{"name":"Alice","password":"` + string(h) + `","email":"alice@oto.tools","metadata":{"team":"ops"}}]}`
}

// postForm posts the login form of page with username and password.
func postForm(t testing.TB, c *http.Client, host, page, username, password string, edit func(url.Values)) (*http.Response, string) {
	t.Helper()
	v := url.Values{"csrf": {formValue(page, "csrf")}, "route": {formValue(page, "route")}, "ref": {formValue(page, "ref")},
		"redirect": {formValue(page, "redirect")}, "username": {username}, "password": {password}}
	if edit != nil {
		edit(v)
	}
	req, _ := http.NewRequest("POST", "http://"+host+"/.well-known/otoroshi/privateapps/login", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	return do(t, c, req)
}

// The basic module end to end through the engine: redirect to the login
// form on the app's host, wrong password, CSRF, open redirect refused,
// login back to the asked URL, session cookie attributes, a new session id
// at every login, logout.
func TestBasicLoginFlow(t *testing.T) {
	be := testkit.TextBackend(t, "backend says hi")
	st := startStack(t, nil)
	st.publish(t, []string{basicModule(t, "mod_basic", "")}, privateRoute("r1", "app.test", be, "mod_basic"))
	c := st.browser(t)

	resp, _ := get(t, c, "http://app.test/dash?x=1")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.HasPrefix(loc, "/.well-known/otoroshi/privateapps/login?route=r1&redirect=") {
		t.Fatalf("no session: %d %q", resp.StatusCode, loc)
	}
	resp, page := get(t, c, "http://app.test"+loc)
	if resp.StatusCode != 200 || !strings.Contains(page, `<label for="password">`) || formValue(page, "redirect") != "/dash?x=1" {
		t.Fatalf("login page: %d %s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(page, "<script") {
		t.Fatalf("login page CSP %q or script in page", csp)
	}
	resp, page2 := postForm(t, c, "app.test", page, "alice@oto.tools", "wrong", nil)
	if resp.StatusCode != 401 || !strings.Contains(page2, "Invalid user name or password") {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, page2)
	}
	resp, _ = postForm(t, c, "app.test", page2, "alice@oto.tools", "wonderland", func(v url.Values) { v.Set("csrf", "forged") })
	if resp.StatusCode != 403 {
		t.Fatalf("forged CSRF token: %d", resp.StatusCode)
	}
	_, page = get(t, c, "http://app.test"+loc)
	resp, _ = postForm(t, c, "app.test", page, "alice@oto.tools", "wonderland", func(v url.Values) { v.Set("redirect", "//evil.test/x") })
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
		t.Fatalf("open redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	first := sessionCookie(t, resp)
	_, page = get(t, c, "http://app.test"+loc)
	resp, _ = postForm(t, c, "app.test", page, "Alice@oto.tools", "wonderland", nil)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/dash?x=1" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	second := sessionCookie(t, resp)
	if second.Value == first.Value {
		t.Fatal("a second login kept the session id")
	}
	if !second.HttpOnly || second.Path != "/" || second.Domain != "" || second.MaxAge != 3600 || second.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie attributes: %+v", second)
	}
	if _, ok := st.sessions.Lookup("mod_basic", first.Value); ok {
		t.Fatal("the first session survived the second login")
	}
	resp, body := get(t, c, "http://app.test/dash?x=1")
	if resp.StatusCode != 200 || body != "backend says hi" {
		t.Fatalf("with session: %d %s", resp.StatusCode, body)
	}
	resp, _ = get(t, c, "http://app.test/.well-known/otoroshi/privateapps/logout?route=r1")
	if resp.StatusCode != 200 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if _, ok := st.sessions.Lookup("mod_basic", second.Value); ok {
		t.Fatal("session still alive after logout")
	}
	// Even a browser that kept the cookie is out.
	req, _ := http.NewRequest("GET", "http://app.test/dash", nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: "oto-papps-basic-auth-mod_basic", Value: second.Value})
	if resp, _ := do(t, st.browser(t), req); resp.StatusCode != 401 {
		t.Fatalf("old cookie after logout: %d", resp.StatusCode)
	}
}

func sessionCookie(t testing.TB, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "oto-papps-basic-auth-mod_basic" && c.MaxAge > 0 {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	return nil
}

// Failed logins are throttled per address and per user, right password or
// not, with Retry-After.
func TestBasicLoginThrottled(t *testing.T) {
	be := testkit.TextBackend(t, "ok")
	st := startStack(t, nil)
	st.publish(t, []string{basicModule(t, "mod_basic", "")}, privateRoute("r1", "app.test", be, "mod_basic"))
	c := st.browser(t)
	login := "http://app.test/.well-known/otoroshi/privateapps/login?route=r1&redirect=/"
	for i := range 10 {
		_, page := get(t, c, login)
		if resp, _ := postForm(t, c, "app.test", page, "alice@oto.tools", "guess", nil); resp.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i, resp.StatusCode)
		}
	}
	_, page := get(t, c, login)
	resp, body := postForm(t, c, "app.test", page, "alice@oto.tools", "wonderland", nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "errors.too.much.requests") {
		t.Fatalf("11th try: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

// Behind TLS (the engine says so in X-Forwarded-Proto) the cookies are
// Secure; with basicAuth the browser's Basic prompt logs in instead of the
// form.
func TestSecureCookiesAndBasicAuth(t *testing.T) {
	ss := privateapp.New(nil)
	srv := auth.NewServer(auth.Options{Sessions: ss})
	var cfgs []*auth.Config
	for _, m := range []string{basicModule(t, "mod_form", ""), basicModule(t, "mod_prompt", `,"basicAuth":true`)} {
		c, err := auth.Decode([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, c)
	}
	srv.Update(cfgs, []route.Route{privateRoute("r_form", "form.test", "127.0.0.1:1", "mod_form"),
		privateRoute("r_prompt", "prompt.test", "127.0.0.1:1", "mod_prompt")})
	serve := func(method, host, target string, form url.Values, edit func(*http.Request)) *http.Response {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		r := httptest.NewRequest(method, "http://"+host+target, body)
		if form != nil {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		if edit != nil {
			edit(r)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w.Result()
	}
	resp := serve("GET", "form.test", auth.Prefix+"login?route=r_form&redirect=/a", nil, nil)
	page, _ := io.ReadAll(resp.Body)
	var csrf *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "oto-papps-csrf" {
			csrf = c
		}
	}
	if csrf == nil || !csrf.Secure || !csrf.HttpOnly {
		t.Fatalf("CSRF cookie over TLS: %+v", csrf)
	}
	resp = serve("POST", "form.test", auth.Prefix+"login", url.Values{"csrf": {formValue(string(page), "csrf")}, "route": {"r_form"},
		"ref": {"mod_form"}, "redirect": {"/a"}, "username": {"alice@oto.tools"}, "password": {"wonderland"}},
		func(r *http.Request) { r.AddCookie(csrf) })
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("form login over TLS: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "oto-papps-basic-auth-mod_form" && (!c.Secure || !c.HttpOnly) {
			t.Fatalf("session cookie over TLS: %+v", c)
		}
	}

	resp = serve("GET", "prompt.test", auth.Prefix+"login?route=r_prompt&redirect=/b", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic realm=") {
		t.Fatalf("basicAuth without credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp = serve("GET", "prompt.test", auth.Prefix+"login?route=r_prompt&redirect=/b", nil, func(r *http.Request) { r.SetBasicAuth("alice@oto.tools", "nope") })
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("basicAuth, wrong password: %d", resp.StatusCode)
	}
	resp = serve("GET", "prompt.test", auth.Prefix+"login?route=r_prompt&redirect=/b", nil, func(r *http.Request) { r.SetBasicAuth("alice@oto.tools", "wonderland") })
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/b" || len(ss.List()) != 2 {
		t.Fatalf("basicAuth login: %d %q, %d sessions", resp.StatusCode, resp.Header.Get("Location"), len(ss.List()))
	}
	// A login for another host is refused.
	if resp := serve("GET", "evil.test", auth.Prefix+"login?route=r_form&redirect=/", nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("login of r_form on another host: %d", resp.StatusCode)
	}
}

// MultiAuthModule: the login page lets the user choose among the route's
// modules; each module's session opens the route.
func TestMultiAuthModuleChooser(t *testing.T) {
	be := testkit.TextBackend(t, "multi")
	st := startStack(t, nil)
	st.publish(t, []string{basicModule(t, "mod_a", ""), basicModule(t, "mod_b", "")}, privateRoute("r_multi", "multi.test", be, "mod_a", "mod_b"))
	for _, mod := range []string{"mod_a", "mod_b"} {
		c := st.browser(t)
		resp, _ := get(t, c, "http://multi.test/x")
		resp, page := get(t, c, "http://multi.test"+resp.Header.Get("Location"))
		if resp.StatusCode != 200 || !strings.Contains(page, "Basic mod_a") || !strings.Contains(page, "Basic mod_b") {
			t.Fatalf("chooser: %d %s", resp.StatusCode, page)
		}
		i := strings.Index(page, `ref=`+mod)
		start := strings.LastIndex(page[:i], `href="`) + len(`href="`)
		end := i + strings.IndexByte(page[i:], '"')
		link := strings.ReplaceAll(page[start:end], "&amp;", "&")
		_, form := get(t, c, "http://multi.test"+link)
		if formValue(form, "ref") != mod {
			t.Fatalf("%s: form for %q: %s", mod, formValue(form, "ref"), form)
		}
		if resp, _ := postForm(t, c, "multi.test", form, "alice@oto.tools", "wonderland", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: login %d", mod, resp.StatusCode)
		}
		if resp, body := get(t, c, "http://multi.test/x"); resp.StatusCode != 200 || body != "multi" {
			t.Fatalf("%s: after login %d %s", mod, resp.StatusCode, body)
		}
	}
}
