// Package admin serves Torii's admin API on its own port: an Otoroshi-compatible REST API over
// routes, service groups, API keys and the global configuration, stored in bbolt and published to
// the proxy as one immutable snapshot after every write.
//
// The API (the embedded OpenAPI 3 document at /api/openapi.json lists every operation):
//
//	/api/routes, /api/groups, /api/apikeys,       list (page, pageSize, filter.<field>), create,
//	/api/data-exporter-configs, /api/services
//	/apis/<group>/<version>/<plural>              the same at Otoroshi's paths, with _count and ndjson _bulk
//	/api/<kind>, /apis/... of stored-only kinds   list and get (tenants, teams, scripts...)
//	/api/<kind>/_template, /api/<kind>/{id}       template, get, replace (PUT), merge-patch, delete
//	/api/groups/{id}/apikeys[/{clientId}]         the same, scoped to the keys of a group
//	/api/routes/{id}/apikeys[/{clientId}]         ... or of a route
//	/api/routes/{id}/targets                      a published route's targets: health, circuit, in flight, latency
//	/api/apikeys/{id}/quotas                      quota usage (GET) and reset (DELETE)
//	/api/globalconfig                             GET, PUT, PATCH
//	/api/otoroshi.json, /api/import               export (GET) and import (POST) in Otoroshi's format
//	/api/audit/events                             the audit log, newest first
//	/api/events/stats                             event hub and data exporter counters
//	/api/live, /api/live/{id}?every=<ms>          live statistics (JSON, server-sent events)
//	/health, /live (no key), /ready, /metrics     (/metrics: Prometheus text, or ?format=json)
//
// Every write follows the same path under one mutex: build the candidate full state, compile and
// validate it into a snapshot, commit the entity change and its audit event in one bbolt
// transaction (fsynced), then publish the snapshot. A write that would produce an invalid snapshot
// is refused with 400 and nothing is stored; the proxy keeps the last good snapshot. A write is
// answered only after the publish, so the next proxied request sees it.
//
// Entities are kept as JSON documents (objects decoded into maps by internal/jsonx), so fields
// Torii does not know round-trip untouched; the typed core/route and core/apikey packages are used
// to validate and compile, never to re-serialize. The otoroshi package reads and writes Otoroshi's
// export format; this package validates, stores and publishes what it reads.
//
// Data exporters are stored like the other entities and handed to the event hub (Options.Events,
// hub.SetExporters) at start and with each change, just before its commit: one the hub cannot
// start is refused with 400 and not stored. Committed audit events go to the hub too.
//
// Wiring (cmd/torii): admin.Run(ctx, admin.Options{Listen: ..., DataDir: ..., Publisher: engine,
// Quotas: counters, Metrics: set, Live: live, Events: hub, Registry: reg}) or New + Run + Close;
// the quota persister shares Server.DB. Each publish hands the Publisher one core.Snapshot carrying the
// routes, the compiled API keys and the global settings together.
//
// # Security
//
// The admin key is stored as HMAC-SHA256 under a random salt and checked in constant time (a hash
// per request costs a few microseconds, BenchmarkAdminKeyCheck; bcrypt would cost tens of
// milliseconds). Ten wrong keys from one client address (an IPv6 /64) in five minutes, on the API
// or the login form, get 429 with Retry-After until the window ends (guard.go). Every path but
// /health and /live checks Host and Origin against loopback names and Options.AllowedHosts (DNS
// rebinding); a write must also come from this very origin when the client says where it comes from
// (Origin, Sec-Fetch-Site), which stops CSRF from another port of the same host, and must be JSON.
// Sessions are HttpOnly, SameSite=Strict cookies (Secure over TLS or X-Forwarded-Proto: https) in
// memory, ended by logout, by a new login and by a restart. Every answer carries nosniff, a CSP and
// frame and referrer denials; /api/ answers are not cached. Secrets never reach logs, audit events
// or error bodies; the export holds them, as Otoroshi's does. The database file is kept 0600.
//
// # Caveats
//
// The server runs on net/http goroutines, never on the proxy's event loops. Target host names are
// resolved by a core/dns cache on its own goroutine (names.go): compiling, writing and importing
// never wait for DNS (an import waits up to 2 s after it was stored, only to report which names do
// not resolve); a name that does not resolve makes its targets down, and DNS changes are published
// like any change. Reads see
// an immutable state loaded through one atomic pointer and never wait for writers; writers
// serialize on one mutex held across the bbolt commit and Publisher.Publish, which is fine because
// admin writes are rare. Documents in a published state are never mutated: every change works on
// a deep copy. The bbolt file is opened exclusively; [Server.DB] shares it (the quota persister
// uses bucket [BucketQuotas]) and stays valid until [Server.Close], which must come after Run
// returned.
package admin
