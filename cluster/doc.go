// Package cluster is Torii's cluster mode: one leader (torii serve --cluster-leader), which
// holds the admin API and the database, and workers (torii worker), which run the proxy with
// the leader's configuration and no database.
//
// The protocol follows Otoroshi's (otoroshi/app/cluster/cluster.scala, conf/routes):
//
//   - GET /api/cluster/state answers the whole state as NDJSON lines {"k","v","t","w"}: k an
//     Otoroshi storage key (otoroshi:routes:<id>, otoroshi:apikey:coll:<clientId>,
//     otoroshi:sgroup:<id>, otoroshi:data-exporters:<id>, otoroshi:config:global, and
//     otoroshi:<api path>:<id> for other kinds), v the entity's JSON as a string, t -1 (no
//     expiry), w "string"; gzip when asked. Headers X-Data-Count (lines), X-Data-Digest
//     (SHA-256 hex of the body, each line with its newline), X-Data-From (Unix ms),
//     Otoroshi-Leader-Node-Name and -Version.
//   - PUT /api/cluster/quotas takes NDJSON increments {"typ":"apkincr","apk":clientId,"i":n}
//     (other types are ignored) and answers the keys' counts (a Torii extension).
//   - GET /api/cluster/members lists the workers seen, with Otoroshi's MemberView fields and
//     Torii's (state age, leases, Redis).
//
// Workers send Otoroshi-Worker-Id, -Name, -Version, -Location and -Http-Port, and authenticate
// with a cluster key (Basic, or Otoroshi-Client-Id/-Secret): the key in the leader's
// --cluster-key-file, or the admin API key. Anything else gets 401.
//
// Beyond Otoroshi, a worker long-polls: it sends back the state it holds (?seq=N&epoch=E) and
// the leader answers as soon as a newer state exists (or 304 after the wait), so a change
// reaches every worker in milliseconds instead of a polling period. A worker checks count and
// digest, refuses a stale state (older than the one it serves, or than DefaultStaleAfter),
// applies a state atomically (one snapshot swap) and keeps the last one in its data directory,
// which it serves at start while the leader is down.
//
// # Caveats
//
// Leader and Worker are safe for concurrent use. The state holds every secret (API key
// secrets): it is never logged, the worker's file is mode 0600, and the endpoints need a key.
// Interoperability with Otoroshi's own workers and leaders follows the formats above but is
// untested (no Otoroshi build was available).
package cluster
