package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

var (
	// ErrSchemaTooNew means the database was written by a newer Torii with an unknown schema.
	ErrSchemaTooNew = errors.New("admin: database schema is newer than this binary")
	// ErrClosed means the server was closed.
	ErrClosed = errors.New("admin: server closed")
	// ErrBadSeed means Options.Seed is neither an export object nor an array of routes.
	ErrBadSeed = errors.New("admin: seed is not a JSON object or array")
	// ErrBadOptions means New was given inconsistent options.
	ErrBadOptions = errors.New("admin: bad options")
)

// FieldError names one bad field of a request body, as a dotted path ("frontend.domains[0]").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// APIError is the one error type handlers return to produce a non-2xx answer. It is rendered by
// writeError as {"error": Code, "error_description": Message, "fields": [...]}.
type APIError struct {
	Status  int
	Code    string
	Message string
	Fields  []FieldError
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int
}

// Error implements error; it lists the fields too.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Message)
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Message)
	}
	return b.String()
}

func errBadRequest(msg string, fields ...FieldError) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: "errors.bad.request", Message: msg, Fields: fields}
}

func errValidation(fields []FieldError) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: "errors.validation", Message: "the entity is not valid", Fields: fields}
}

func errNotFound(what string) *APIError {
	return &APIError{Status: http.StatusNotFound, Code: "errors.not.found", Message: what + " not found"}
}

func errConflict(what string) *APIError {
	return &APIError{Status: http.StatusConflict, Code: "errors.conflict", Message: what + " already exists"}
}

func errPrecondition() *APIError {
	return &APIError{Status: http.StatusPreconditionFailed, Code: "errors.precondition.failed", Message: "If-Match does not match the current ETag"}
}

func errUnsupportedMedia(got string) *APIError {
	return &APIError{Status: http.StatusUnsupportedMediaType, Code: "errors.unsupported.media.type", Message: "expected application/json, got " + strconv.Quote(got)}
}

func errUnauthorized() *APIError {
	return &APIError{Status: http.StatusUnauthorized, Code: "errors.unauthorized", Message: "an admin API key is required (Basic or Otoroshi-Client-Id/Otoroshi-Client-Secret)"}
}

func errForbidden(msg string) *APIError {
	return &APIError{Status: http.StatusForbidden, Code: "errors.forbidden", Message: msg}
}

func errInternal(msg string) *APIError {
	return &APIError{Status: http.StatusInternalServerError, Code: "errors.internal", Message: msg}
}

type errorBody struct {
	Error       string       `json:"error"`
	Description string       `json:"error_description"`
	Fields      []FieldError `json:"fields,omitempty"`
}

// writeError renders err as JSON. Errors that are not an *APIError become a 500 whose body does not
// reveal the cause (it is logged by the caller instead).
func writeError(w http.ResponseWriter, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		ae = errInternal("internal error")
	}
	body, _ := json.Marshal(errorBody{Error: ae.Code, Description: ae.Message, Fields: ae.Fields})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Otoroshi-Error", "true")
	h.Set("Otoroshi-Error-Cause", ae.Code)
	if ae.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	if ae.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="torii-admin"`)
	}
	w.WriteHeader(ae.Status)
	_, _ = w.Write(append(body, '\n'))
}
