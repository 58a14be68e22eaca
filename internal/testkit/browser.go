package testkit

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// BrowserRequest sends one request as a browser would to a private app's route: Accept
// text/html, the given Cookie header if any, and form (when not nil) as an urlencoded body. It
// goes to addr ("host:port") with Host set to host, does not follow redirects, and returns the
// response with its body read and closed, and that body.
func BrowserRequest(t testing.TB, addr, host, method, path, cookie string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, "http://"+addr+path, body)
	if err != nil {
		t.Fatalf("BrowserRequest %s %s: %v", method, path, err)
	}
	req.Host = host
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("BrowserRequest %s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}
