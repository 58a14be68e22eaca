// Package apikey authenticates requests with Otoroshi-compatible API keys:
// the ApiKey entity and its JSON, the compiled immutable key Set, the
// per-route Policy built from the ApikeyCalls and PublicPrivatePaths plugin
// configs, and Check, which extracts credentials from a parsed request head,
// validates them and counts the call with package quota.
//
// Extraction follows Otoroshi's order, and the first method whose
// credentials are present decides: the Otoroshi bearer token
// otoapk_<clientId>_<hex HMAC-SHA256(clientSecret, "otoapk_<clientId>")> (in
// Otoroshi-Token or Authorization: Bearer), the client id alone (x-api-key,
// for keys with allowClientIdOnly), the Otoroshi-Client-Id and
// Otoroshi-Client-Secret headers, an HS256/384/512 JWT signed with the
// secret (client id in the clientId, client_id, cid or iss claim; exp and nbf
// checked with 10 s of leeway), and Basic credentials (Authorization or
// Otoroshi-Authorization). Header names follow the plugin config.
//
// What allocates: nothing on the Check path for the bearer, client id,
// client id/secret header and Basic methods; JWT verification does not
// allocate either, because Scratch keeps one SHA-256/384/512 state per event
// loop and computes HMAC over them (crypto/hmac.New would allocate a state
// per call). A Scratch's decoding buffer grows, once, for credentials larger
// than 2 KiB. Regular-expression path patterns use regexp's pooled matchers;
// literal and prefix patterns ("/health", "/api/.*") skip regexp entirely.
// quota.Counters.Take allocates on the first call of each client id.
//
// Secrets are compared with crypto/subtle in constant time (the length of a
// secret is not hidden). They are never logged or returned: Result carries
// the key's identity, not its secret, and the indexes of the header fields
// that held the credentials, which the engine removes before calling the
// backend.
//
// # Caveats
//
// Set and Policy are immutable once built and safe for any number of
// concurrent readers; publish them in the route snapshot. A Scratch belongs
// to one event loop and must never be shared. Check reads the request bytes
// only during the call and keeps nothing derived from them, so it is safe to
// call from gnet's OnTraffic with peeked bytes. Quota counters live outside
// the snapshot (package quota), keyed by client id, so they survive reloads.
// A compiled Key keeps copies of the strings it needs (Metadata, Tags,
// Secret), not the ApiKey it was compiled from: the stored document is the
// admin's. DecodeKey reads a stored key without reflection and falls back to
// encoding/json for anything unusual, so both give the same ApiKey.
//
// Query, cookie and path-parameter extractors, routing constraints and
// key-pair signed JWTs of Otoroshi's config are not supported; ParsePolicy
// lists them in Policy.Warnings instead of failing, so imports still load.
package apikey
