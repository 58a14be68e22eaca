package apikey

// Rejection is why a request was refused: the HTTP status, Otoroshi's error
// id (the "error" field of the JSON body and the Otoroshi-Error-Cause header)
// and its message ("error_description"). The values returned by Check are the
// package-level sentinels below, shared and read-only: compare them by
// pointer, never modify them.
type Rejection struct {
	Status  int
	Cause   string
	Message string
}

// Error implements error so a Rejection can travel as one.
func (r *Rejection) Error() string { return r.Cause + ": " + r.Message }

// The rejections Check returns, with Otoroshi's statuses, ids and messages.
var (
	// ErrNoKey: the path needs a key and the request carries none.
	ErrNoKey = &Rejection{400, "errors.no.api.key", "No ApiKey provided"}
	// ErrInvalidTuple: credentials are present but malformed (bad base64,
	// no ':' in Basic, a JWT without client id claim, a lone client id header ...).
	ErrInvalidTuple = &Rejection{400, "errors.invalid.api.key.tuple", "Invalid ApiKey tuple"}
	// ErrBadKey: unknown client id, wrong secret or signature, expired JWT,
	// or a client id alone for a key without allowClientIdOnly.
	ErrBadKey = &Rejection{401, "errors.bad.api.key", "Bad API key"}
	// ErrNotAuthorized: the key exists but is disabled, past validUntil, or
	// not authorized on this route.
	ErrNotAuthorized = &Rejection{401, "errors.bad.api.key", "Invalid API key"}
	// ErrReadOnly: a read-only key used with a method other than GET, HEAD
	// or OPTIONS.
	ErrReadOnly = &Rejection{405, "errors.method.not.allowed", "Method not allowed. Can only handle GET, HEAD, OPTIONS"}
	// ErrTooManyRequests: a quota is exhausted; Result.RetryAfter says for how long.
	ErrTooManyRequests = &Rejection{429, "errors.too.much.requests", "You performed too much requests"}
	// ErrLeasePending: in cluster mode the key's quota lease is being fetched; the call was not
	// counted. The caller waits with quota.Counters.Wait and checks again.
	ErrLeasePending = &Rejection{429, "errors.too.much.requests", "You performed too much requests"}
)
