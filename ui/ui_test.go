package ui_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/ui"
)

func TestHandler(t *testing.T) {
	h := ui.Handler()
	get := func(method, path string) *http.Response {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		return w.Result()
	}
	f := func(path string, status int, ctype, contains string) {
		t.Helper()
		res := get("GET", path)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != status {
			t.Fatalf("GET %s: status %d, want %d", path, res.StatusCode, status)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, ctype) {
			t.Fatalf("GET %s: Content-Type %q, want %s", path, ct, ctype)
		}
		if !strings.Contains(string(body), contains) {
			t.Fatalf("GET %s: body lacks %q", path, contains)
		}
		if status == http.StatusOK && res.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("GET %s: Cache-Control %q", path, res.Header.Get("Cache-Control"))
		}
	}
	f("/", http.StatusOK, "text/html", `<script type="module" src="app.js">`)
	f("/app.js", http.StatusOK, "text/javascript", "import")
	f("/style.css", http.StatusOK, "text/css", ":root")
	f("/vendor/uplot/uPlot.esm.js", http.StatusOK, "text/javascript", "export { uPlot as default }")
	f("/vendor/uplot/LICENSE", http.StatusOK, "text/plain", "MIT")
	f("/nothing.js", http.StatusNotFound, "application/json", `"error":"errors.not.found"`)
	// No directory listing.
	f("/vendor/", http.StatusNotFound, "application/json", `"error":"errors.not.found"`)
	f("/vendor/uplot", http.StatusNotFound, "application/json", `"error":"errors.not.found"`)
	res := get("POST", "/")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" ||
		res.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"error":"errors.method.not.allowed"`) {
		t.Fatalf("POST /: %d %v %s", res.StatusCode, res.Header, body)
	}
	if res := get("HEAD", "/app.js"); res.StatusCode != http.StatusOK {
		t.Fatalf("HEAD /app.js: %d", res.StatusCode)
	}
}

// TestModulesResolve checks that every relative import of every module names an embedded file,
// so a renamed file breaks here and not only in a browser.
func TestModulesResolve(t *testing.T) {
	files := ui.Files()
	n := 0
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") || strings.HasPrefix(path, "vendor/") {
			return err
		}
		src, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(src), "\n") {
			_, spec, ok := strings.Cut(line, " from './")
			if !ok || !strings.HasPrefix(line, "import ") {
				continue
			}
			name := spec[:strings.IndexAny(spec, `'"`)]
			if _, err := fs.Stat(files, name); err != nil {
				t.Errorf("%s imports ./%s: %v", path, name, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d imports found: the check reads nothing", n)
	}
}
