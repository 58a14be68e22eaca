// Package auth logs humans in to private apps: Otoroshi's auth modules
// (the authConfigs entity: "basic" in-memory users with bcrypt hashes,
// "oauth2" OAuth2/OpenID Connect providers, "ldap" directories) and the
// login server that routes behind the AuthModule plugin send browsers to.
//
// # How a login goes
//
// The engine (package core) checks the session cookie on its loops and
// sends a browser without one to /.well-known/otoroshi/privateapps/login on
// the host it asked for, with the route id and the path it wanted. Those
// /.well-known/otoroshi/privateapps/ paths of every domain that has an
// AuthModule route are routed to this package's Server by routes that
// LoginRoutes adds to the table, so the login pages live on the app's own
// domain, and the session cookie is set there directly (HttpOnly, SameSite
// Lax, Secure when the request came over TLS, Path /, host-only). The
// Server runs on net/http goroutines: bcrypt, LDAP binds and OIDC token
// exchanges never touch an event loop.
//
//   - basic: a plain HTML form (no script, no inline style: the UI's strict
//     CSP), or with basicAuth the browser's own Basic prompt.
//   - oauth2: the authorization code flow with PKCE (S256), state and
//     nonce, through golang.org/x/oauth2; ID tokens are verified with
//     github.com/coreos/go-oidc/v3 against the provider's JWKS, which it
//     caches and refetches when a token names an unknown key (rotation).
//   - ldap: bind and search with Torii's own small LDAPv3 client (ber.go,
//     ldapfilter.go, ldap.go; no LDAP module is available to the build).
//
// # Security
//
// The return URL is only ever a path on the route's host (no open
// redirect). The login form carries a CSRF token bound to a cookie; an
// OAuth2 flow's state is bound to a cookie of the browser that started it.
// Every login makes a new session id (no fixation) and logout deletes it.
// Failed logins are throttled per client address and per user name, as the
// admin key is. Passwords, client secrets and tokens are never logged.
//
// # Caveats
//
// Sessions live in one node's memory and bbolt file (package privateapp);
// in a cluster each node has its own. Server methods are safe for
// concurrent use; Update swaps the modules and routes atomically.
package auth
