package auth

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// pageCSP is the login pages' Content-Security-Policy: the admin UI's
// strict policy, tighter (no script at all; forms post to this host only).
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

const loginCSS = `body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:22rem;margin:10vh auto;background:#fff;padding:2rem;border-radius:8px;border:1px solid #d5d9e0}
h1{font-size:1.4rem;margin:0 0 1rem}
label{display:block;margin:.8rem 0 .3rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #8a94a6;border-radius:4px;font-size:1rem}
input:focus,button:focus,a:focus{outline:3px solid #1a73e8;outline-offset:2px}
button{margin-top:1.2rem;width:100%;padding:.6rem;border:0;border-radius:4px;background:#174ea6;color:#fff;font-size:1rem;cursor:pointer}
[role=alert]{background:#fdecea;color:#8a1c12;padding:.6rem;border-radius:4px}
ul{padding-left:1.2rem}li{margin:.4rem 0}a{color:#174ea6}
`

var pages = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title><link rel="stylesheet" href="` + Prefix + `login.css"></head>
<body><main>
<h1>{{.Title}}</h1>
{{if .Problem}}<p role="alert" id="problem">{{.Problem}}</p>{{end}}
{{if .Form}}<form method="post" action="` + Prefix + `login">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="route" value="{{.Route}}">
<input type="hidden" name="ref" value="{{.Ref}}">
<input type="hidden" name="redirect" value="{{.Redirect}}">
<label for="username">{{.UserLabel}}</label>
<input id="username" name="username" type="text" autocomplete="username" required autofocus{{if .Problem}} aria-describedby="problem"{{end}}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>{{end}}
{{if .Choices}}<p>Choose how to log in:</p><ul>{{range .Choices}}<li><a href="{{.Href}}">{{.Name}}</a></li>{{end}}</ul>{{end}}
{{if .Text}}<p>{{.Text}}</p>{{end}}
{{if .Link}}<p><a href="{{.Link}}">{{.LinkText}}</a></p>{{end}}
</main></body></html>
`))

// page is what the template shows.
type page struct {
	Title, Problem, Text, Link, LinkText string
	Form                                 bool
	CSRF, Route, Ref, Redirect           string
	UserLabel                            string
	Choices                              []choice
}

type choice struct{ Name, Href string }

func formPage(t *target, csrf, problem string) *page {
	title := "Log in"
	if t.rt.name != "" {
		title = "Log in to " + t.rt.name
	}
	label := "Email"
	if t.module.Type == TypeLDAP {
		label = "User name"
	}
	return &page{Title: title, Problem: problem, Form: true, CSRF: csrf, Route: t.rt.id, Ref: t.module.ID,
		Redirect: t.redirect, UserLabel: label}
}

func choosePage(t *target, reg *registry) *page {
	p := &page{Title: "Log in"}
	for _, m := range t.rt.modules {
		c := reg.modules[m]
		if c == nil {
			continue
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		q := url.Values{"route": {t.rt.id}, "ref": {m}, "redirect": {t.redirect}}
		p.Choices = append(p.Choices, choice{Name: name, Href: Prefix + "login?" + q.Encode()})
	}
	return p
}

func loggedOutPage(redirect string) *page {
	return &page{Title: "Logged out", Text: "You are logged out.", Link: redirect, LinkText: "Back to the application"}
}

func (s *Server) render(w http.ResponseWriter, status int, p *page) {
	var b bytes.Buffer
	if err := pages.Execute(&b, p); err != nil {
		s.log.Error("cannot render the login page", "err", err)
		writeError(w, nil, http.StatusInternalServerError, "errors.internal", "Internal error")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// writeError answers in the engine's Otoroshi error shape: JSON
// {"error", "error_description"} (HTML for browsers) with the
// Otoroshi-Error headers.
func writeError(w http.ResponseWriter, r *http.Request, status int, cause, msg string) {
	h := w.Header()
	h.Set("Otoroshi-Error", "true")
	h.Set("Otoroshi-Error-Msg", msg)
	h.Set("Otoroshi-Error-Cause", cause)
	if r != nil && strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_ = pages.Execute(w, &page{Title: http.StatusText(status), Problem: msg, Text: cause})
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": cause, "error_description": msg})
	_, _ = w.Write(b)
}
