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

// The rejections Check returns, with Otoroshi's statuses, ids and messages. They follow
// Otoroshi's per-method mapping (ApiKeyHelper.passWithApiKey in otoroshi/app/models/apikey.scala,
// MAIF/otoroshi d83ef38; the table test in check_test.go names the line of each case): a key is
// first looked up for the route (unknown, or not authorized on it: errors.invalid.api.key), then
// its credentials are checked (errors.bad.api.key).
var (
	// ErrNoKey: the path needs a key and the request carries none (a lone client id or secret
	// header, Basic credentials that are not base64 or hold no ':' count as none).
	ErrNoKey = &Rejection{400, "errors.no.api.key", "No ApiKey provided"}
	// ErrInvalidTuple: a credentials field appears more than once (Torii's own: the next hop
	// could see the copy that was not checked).
	ErrInvalidTuple = &Rejection{400, "errors.invalid.api.key.tuple", "Invalid ApiKey tuple"}
	// ErrInvalidKey: no key with that client id is authorized on the route (unknown, or
	// authorized elsewhere), a bearer that names no key or does not match it, a JWT without a
	// client id claim, that does not decode, or not signed with HMAC.
	ErrInvalidKey = &Rejection{401, "errors.invalid.api.key", "Invalid API key"}
	// ErrBadKey: the key is authorized on the route but the secret is wrong, or the key is
	// disabled or past validUntil.
	ErrBadKey = &Rejection{401, "errors.bad.api.key", "Bad API key"}
	// ErrClientIDOnly: a client id alone (x-api-key) for a key without allowClientIdOnly.
	ErrClientIDOnly = &Rejection{400, "errors.bad.api.key", "Bad API key"}
	// ErrBadJWT: a JWT whose HMAC signature does not verify or that expired (exp, nbf).
	ErrBadJWT = &Rejection{400, "errors.bad.api.key", "Bad API key"}
	// ErrReadOnly: a read-only key used with a method other than GET, HEAD
	// or OPTIONS.
	ErrReadOnly = &Rejection{405, "errors.method.not.allowed", "Method not allowed. Can only handle GET, HEAD, OPTIONS"}
	// ErrTooManyRequests: a quota is exhausted; Result.RetryAfter says for how long.
	ErrTooManyRequests = &Rejection{429, "errors.too.much.requests", "You performed too much requests"}
	// ErrLeasePending: in cluster mode the key's quota lease is being fetched; the call was not
	// counted. The caller waits with quota.Counters.Wait and checks again.
	ErrLeasePending = &Rejection{429, "errors.too.much.requests", "You performed too much requests"}
)
