package ui_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/torii-gateway/torii/bench/scalegen"
)

// maxPageRender is the most a list page may take to render, from the navigation or the search to
// the page's rows on screen.
const maxPageRender = 2 * time.Second

// TestBrowserScale drives the route and API key lists of a gateway with many entities in headless
// Chromium: each page (first page, next page, a search) renders its rows within maxPageRender and
// the browser only ever holds one page. make test runs it with 3,000 routes and 12,000 keys (more
// than the 1,000 the UI used to load at once); TORII_UI_SCALE=<routes>,<keys> (make bench-scale)
// runs it at 100k routes and 1M keys.
func TestBrowserScale(t *testing.T) {
	nr, nk := 3000, 12000
	if spec := os.Getenv("TORII_UI_SCALE"); spec != "" {
		a, b, _ := strings.Cut(spec, ",")
		var err1, err2 error
		if nr, err1 = strconv.Atoi(a); err1 == nil {
			nk, err2 = strconv.Atoi(b)
		}
		if err1 != nil || err2 != nil || nr < 100 || nk < 100 {
			t.Fatalf("TORII_UI_SCALE=%q: want <routes>,<keys>, at least 100 each", spec)
		}
	}
	dataDir := t.TempDir()
	t0 := time.Now()
	if err := scalegen.Load(dataDir, nr, nk); err != nil {
		t.Fatal(err)
	}
	t.Logf("stored %d routes and %d keys in %v", nr, nk, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	g := startGatewayIn(t, dataDir)
	t.Logf("admin API up in %v", time.Since(t0).Round(time.Millisecond))
	ctx, errs := browser(t)
	defer errs.check(t)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v (toasts: %q)", what, err, toastText(ctx))
		}
	}
	do("login", chromedp.Navigate(g.base+"/"), chromedp.WaitVisible(css(`#login-form`)),
		chromedp.SendKeys(css(`#login-id`), adminID), chromedp.SendKeys(css(`#login-secret`), adminSecret),
		chromedp.Click(css(`#login-submit`)), chromedp.WaitVisible(css(`#shell`)))
	// timed runs act, then waits until the JavaScript condition done holds, within maxPageRender.
	timed := func(what, act, done string) {
		t.Helper()
		t0 := time.Now()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(`+act+`, true)`)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := waitJS(ctx, done, 10*time.Second); err != nil {
			t.Fatalf("%s: %v (toasts: %q)", what, err, toastText(ctx))
		}
		took := time.Since(t0)
		t.Logf("%-28s %v", what, took.Round(time.Millisecond))
		if took > maxPageRender {
			t.Errorf("%s took %v, more than %v", what, took, maxPageRender)
		}
	}
	rows := func(list string, n int, first string) string {
		return `document.querySelectorAll('#` + list + ` tbody tr').length === ` + strconv.Itoa(n) +
			` && document.querySelector('#` + list + ` tbody tr').dataset.id === ` + strconv.Quote(first)
	}
	info := func(list, want string) string {
		return `(document.querySelector('#` + list + ` .pager-info') || {}).textContent === ` + strconv.Quote(want)
	}
	num := func(n int) string { // fmtNum in the page: en-US grouping
		s := strconv.Itoa(n)
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		return s
	}

	timed("routes: first page", `location.hash = '#/routes'`, rows("routes-list", 50, scalegen.RouteID(0))+` && `+info("routes-list", "1–50 of "+num(nr)))
	timed("routes: next page", `document.querySelector('#routes-list .pager-next').click()`, rows("routes-list", 50, scalegen.RouteID(50)))
	last := nr - 1
	timed("routes: search the last one", `(() => { const s = document.getElementById('route-search'); s.value = 'r`+strconv.Itoa(last)+`.scale.test'; s.dispatchEvent(new Event('input')); })()`,
		rows("routes-list", 1, scalegen.RouteID(last)))

	timed("keys: first page", `location.hash = '#/apikeys'`, rows("apikeys-list", 50, scalegen.KeyID(0))+` && `+info("apikeys-list", "1–50 of "+num(nk)))
	timed("keys: next page", `document.querySelector('#apikeys-list .pager-next').click()`, rows("apikeys-list", 50, scalegen.KeyID(50)))
	lastKey := scalegen.KeyID(nk - 1)
	timed("keys: search the last one", `(() => { const s = document.querySelector('main input[type=search]'); s.value = '`+lastKey+`'; s.dispatchEvent(new Event('input')); })()`,
		rows("apikeys-list", 1, lastKey))
	timed("keys: edit one", `location.hash = '#/apikeys/`+lastKey+`'`, `!!document.querySelector('#apikey-editor') && !!document.querySelector('input[data-entity="route_`+scalegen.RouteID((nk-1)%nr)+`"]:checked')`)

	// The page never held more than one page of entities.
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`performance.getEntriesByType('resource').filter((e) => /\/api\/(routes|apikeys)\?/.test(e.name) && e.transferSize > 2000000).length`))
	if err != nil || n != 0 {
		t.Fatalf("%d list responses over 2 MB (%v)", n, err)
	}
}
