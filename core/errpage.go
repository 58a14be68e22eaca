package core

import (
	"strconv"
	"strings"
)

// errKind is one error Torii answers itself, Otoroshi-style.
type errKind uint8

const (
	errNotFound errKind = iota
	errBadGateway
	errTimeout
	errOverloaded
	errNoTarget
	errConnectRefused
	errClientTimeout
	errBadRequest
	errBadPath
	errURITooLong
	errHeadersTooLarge
	errNotImplemented
	errVersion
	errMaintenance
	errIPNotAllowed
	errNoAPIKey
	errInvalidTuple
	errBadAPIKey
	errBadAPIKey400
	errInvalidAPIKey
	errReadOnlyKey
	errTooManyRequests
	errMisconfigured
	errCantProcessMore
	errLoginRequired
	errLoginRedirect
	errAuthModuleMissing
	// errParked is not answered: the request waits for a quota lease (park.go).
	errParked
	errRequestTooLarge
	errResponseTooLarge
	errBodyTimeout
	// The refusals of the route plugins of package plugin (plugins.go).
	errBuildMode
	errHTTP10
	errMethodNotAllowed
	errCors
	errHeadersInvalid
	errNotSecured
	errTokenMissing
	errBadToken
	errVerifierMissing
	errClientCert
	errMisdirected
	errPluginAnswer // a redirection or a CORS preflight answered by the chain
	// errUpstreamTLS: the TLS handshake with a TLS target failed (its certificate did not
	// verify, or it refused ours); the event's gwError carries the reason (upstls.Reason).
	errUpstreamTLS
	errKinds
)

// errorInfo is the status, Otoroshi cause id and message of an errKind.
var errorInfo = [errKinds]struct {
	status int
	cause  string
	msg    string
}{
	errNotFound:        {404, "errors.service.not.found", "Service not found"},
	errBadGateway:      {502, "errors.bad.gateway", "Bad gateway: the backend could not be reached or sent an invalid response"},
	errUpstreamTLS:     {502, "errors.bad.gateway", "Bad gateway: the TLS handshake with the backend failed"},
	errTimeout:         {504, "errors.request.timeout", "Request timeout: the backend did not answer in time"},
	errOverloaded:      {503, "errors.overloaded", "Service overloaded: too many concurrent connections"},
	errNoTarget:        {503, "errors.circuit.breaker.open", "Service unavailable: no backend target is available"},
	errConnectRefused:  {405, "errors.connect.not.allowed", "CONNECT is not allowed on this gateway"},
	errClientTimeout:   {408, "errors.client.timeout", "Request timeout: the request head did not arrive in time"},
	errBadRequest:      {400, "errors.bad.request", "Bad request: malformed HTTP request"},
	errBadPath:         {400, "errors.bad.request", "Bad request: invalid request path"},
	errURITooLong:      {414, "errors.uri.too.long", "URI too long"},
	errHeadersTooLarge: {431, "errors.headers.too.large", "Request header fields too large"},
	errNotImplemented:  {501, "errors.not.implemented", "Not implemented: unsupported transfer coding"},
	errVersion:         {505, "errors.http.version.not.supported", "HTTP version not supported"},
	errMaintenance:     {503, "errors.service.in.maintenance", "Service in maintenance mode"},
	errIPNotAllowed:    {403, "errors.ip.address.not.allowed", "IP address not allowed"},
	errNoAPIKey:        {400, "errors.no.api.key", "No ApiKey provided"},
	errInvalidTuple:    {400, "errors.invalid.api.key.tuple", "Invalid ApiKey tuple"},
	errBadAPIKey:       {401, "errors.bad.api.key", "Bad API key"},
	errBadAPIKey400:    {400, "errors.bad.api.key", "Bad API key"},
	errInvalidAPIKey:   {401, "errors.invalid.api.key", "Invalid API key"},
	errReadOnlyKey:     {405, "errors.method.not.allowed", "Method not allowed. Can only handle GET, HEAD, OPTIONS"},
	errTooManyRequests: {429, "errors.too.much.requests", "You performed too much requests"},
	errMisconfigured:   {500, "errors.route.misconfigured", "The route's plugin configuration is invalid"},
	errCantProcessMore: {429, "errors.cant.process.more.request", "Cannot process more request"},
	// AuthModule (privateapp.go): an API client without a session gets
	// 401; a browser gets a 302 to the login page instead (the page is
	// built per request, this entry gives its status for events).
	errLoginRequired:     {401, "errors.auth.required", "Authentication required: log in first"},
	errLoginRedirect:     {302, "errors.auth.required", "Authentication required: redirected to the login page"},
	errAuthModuleMissing: {500, "errors.auth.config.not.found", "Auth. config. not found on the descriptor"},
	errParked:            {429, "errors.too.much.requests", "You performed too much requests"},
	// Body bounds (bodylimit.go): Otoroshi's RequestBodyLengthLimiter and
	// ResponseBodyLengthLimiter answer with this id on both sides.
	errRequestTooLarge:  {413, "errors.failed.response.entityTooLarge", "Request entity too large"},
	errResponseTooLarge: {413, "errors.failed.response.entityTooLarge", "Response entity too large"},
	errBodyTimeout:      {408, "errors.client.timeout", "Request timeout: the request body did not arrive in time, or too slowly"},
	// Route plugins (plugins.go): statuses, ids and messages of Otoroshi's
	// plugins. The answer of a redirection or preflight is built per
	// request; its entry gives the status events show.
	errBuildMode:        {503, "errors.service.under.construction", "Service under construction"},
	errHTTP10:           {503, "errors.http.1_0.not.allowed", "HTTP/1.0 not allowed"},
	errMethodNotAllowed: {405, "errors.method.not.allowed", "Method not allowed"},
	errCors:             {404, "errors.cors.error", "Cors error"},
	errHeadersInvalid:   {400, "errors.bad.request", "bad request"},
	errNotSecured:       {502, "errors.service.not.secured", "Backend server does not seems to be secured. Cancelling request !"},
	errTokenMissing:     {400, "error.expected.token.not.found", "error.expected.token.not.found"},
	errBadToken:         {400, "error.bad.token", "error.bad.token"},
	errVerifierMissing:  {500, "error.missing.globaljwtverifier.id", "error.missing.globaljwtverifier.id"},
	errClientCert:       {403, "forbidden", "forbidden"},
	errMisdirected:      {421, "errors.misdirected.request", "Misdirected request: Host does not match the TLS server name of this connection"},
	errPluginAnswer:     {200, "", ""},
}

// errKindOfStatus maps an httpparse rejection status to its errKind.
func errKindOfStatus(status int) errKind {
	switch status {
	case 414:
		return errURITooLong
	case 431:
		return errHeadersTooLarge
	case 501:
		return errNotImplemented
	case 505:
		return errVersion
	}
	return errBadRequest
}

// errorPages holds every error response fully rendered, indexed by kind,
// HTML or JSON, and whether the connection closes after it, so that answering
// an error on the loop is one Write and no allocation. Built once at init and
// read-only afterwards: safe for concurrent readers.
var errorPages [errKinds][2][2][]byte

func init() {
	for k := range errKinds {
		for html := range 2 {
			for closing := range 2 {
				errorPages[k][html][closing] = renderError(k, html == 1, closing == 1)
			}
		}
	}
}

func renderError(k errKind, html, closing bool) []byte {
	info := errorInfo[k]
	var body, ctype string
	if html {
		ctype = "text/html; charset=utf-8"
		body = "<!DOCTYPE html>\n<html><head><title>" + strconv.Itoa(info.status) + " " + info.msg +
			"</title></head>\n<body><h1>" + strconv.Itoa(info.status) + "</h1><p>" + info.msg +
			"</p><p><code>" + info.cause + "</code></p></body></html>\n"
	} else {
		ctype = "application/json"
		body = `{"error":"` + info.cause + `","error_description":"` + info.msg + `"}`
	}
	var b strings.Builder
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(info.status))
	b.WriteString(" ")
	b.WriteString(statusText(info.status))
	b.WriteString("\r\nContent-Type: ")
	b.WriteString(ctype)
	b.WriteString("\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\nOtoroshi-Error: true\r\nOtoroshi-Error-Msg: ")
	b.WriteString(info.msg)
	b.WriteString("\r\nOtoroshi-Error-Cause: ")
	b.WriteString(info.cause)
	if closing {
		b.WriteString("\r\nConnection: close")
	}
	b.WriteString("\r\n\r\n")
	b.WriteString(body)
	return []byte(b.String())
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 414:
		return "URI Too Long"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

// errorPage returns the rendered response for k. The result is shared and
// read-only.
func errorPage(k errKind, html, closing bool) []byte {
	h, c := 0, 0
	if html {
		h = 1
	}
	if closing {
		c = 1
	}
	return errorPages[k][h][c]
}
