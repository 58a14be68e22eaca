// Package plugin compiles and runs the Otoroshi route plugins Torii
// implements beyond API keys: header plugins (AdditionalHeadersIn/Out,
// MissingHeadersIn/Out, RemoveHeadersIn/Out, HeadersValidation), access
// plugins (Cors, Redirection, MaintenanceMode, BuildMode, DisableHttp10,
// ReadOnlyCalls, AllowHttpMethods, IpAddressAllowedList, IpAddressBlockList),
// Otoroshi's exchange protocol (OtoroshiChallenge V1 and V2, OtoroshiInfos
// in its Latest and Legacy shapes) and JWT (JwtVerification, JwtSigner, with
// the jwtVerifiers entities compiled into a VerifierSet, JWKS fetched off
// the loops), with the subset of Otoroshi's ${...} expression language those
// plugins' docs show.
//
// # Compile at publish, run on the loop
//
// Compile turns a route's enabled steps (route.Step, in the order the route
// lists them) into a Chain: every config is decoded, checked and turned into
// flat data (lower-cased header names, parsed CIDRs, compiled expressions,
// signing keys) once, off the event loops. An invalid config is refused with
// an error naming every bad field (plugins[i].config.<field>) and its value.
//
// A Chain is immutable and safe for concurrent use. The engine calls it at
// fixed points of an exchange:
//
//   - Access, after routing and before the API-key check: refuse, redirect,
//     or answer a CORS preflight, else go on;
//   - DropRequest and AppendRequest while the request head is rewritten:
//     which client fields are not forwarded, which ones are added (the
//     challenge's Otoroshi-State and the Otoroshi-Claim token included);
//   - CheckResponse when the backend's head arrives: the challenge's answer;
//   - DropResponse and AppendResponse while the response head is written.
//
// A route without plugins has a nil Chain, and every method of a nil Chain
// is a no-op, so the engine's cost for a route without plugins is one nil
// check per hook. Hooks of plugins that do not fire allocate nothing
// (alloc_test.go); the ones that fire write into the caller's buffer.
//
// # Caveats
//
// The Ctx given to a hook holds spans into bytes peeked from a connection:
// nothing derived from them is kept past the call. Per-exchange state
// (the challenge's state value) lives in the caller's Exchange value, which
// the engine keeps in its per-connection struct.
package plugin
