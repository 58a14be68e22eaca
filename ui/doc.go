// Package ui is Torii's admin web UI: static pages, plain ES modules and a vendored chart library
// (uPlot, see static/vendor/uplot/VERSION), embedded in the binary with go:embed and served by
// [Handler]. Mount it as admin.Options.UI: the admin server serves it at / on the admin port,
// behind its Host/Origin check. Building it needs no npm and no build step.
//
// The pages use only the documented admin API (admin/openapi.json): they log in with
// POST /api/session, which sets an HttpOnly, SameSite=Strict session cookie, and then call the
// API with that cookie; the dashboard reads the /api/live/global server-sent events, and the
// per-route traffic and circuit-breaker states from /metrics.
//
// Everything the pages show from the API (names, descriptions, tags, metadata, events, error
// messages) goes into the DOM as text through lib.js's el, never as HTML, and styles are set
// through the CSSOM: the admin server serves the UI under a Content-Security-Policy without
// 'unsafe-inline' or 'unsafe-eval', which the browser test checks stays unviolated.
//
// # Caveats
//
// The files are read-only and shared by every request; the handler is safe for concurrent use.
// Every answer says Cache-Control: no-cache (the files are small, and a new binary must not be
// shadowed by a cached script). The pages hold no data: everything they show comes from API calls
// that need a session.
package ui
