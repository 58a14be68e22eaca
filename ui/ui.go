package ui

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// Files returns the embedded files, rooted at the UI's top directory (index.html, app.js, ...).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("BUG: embedded static directory missing: " + err.Error())
	}
	return sub
}

// Handler serves the UI: GET and HEAD of the embedded files, index.html at /. Other methods get
// a JSON 405, unknown paths and directories (no listing) a JSON 404, both in the admin API's
// error shape.
func Handler() http.Handler {
	files := Files()
	server := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "errors.method.not.allowed", r.Method+" is not allowed here")
			return
		}
		if name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/"); name != "" {
			if fi, err := fs.Stat(files, name); err != nil || fi.IsDir() {
				writeError(w, http.StatusNotFound, "errors.not.found", "path "+r.URL.Path+" not found")
				return
			}
		}
		w.Header().Set("Cache-Control", "no-cache")
		server.ServeHTTP(w, r)
	})
}

// writeError answers {"error": code, "error_description": msg}, as the admin API does.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
