// Package admin serves Torii's admin API on its own port: an Otoroshi-compatible REST API over
// routes, service groups, API keys and the global configuration, stored in bbolt and published to
// the proxy as one immutable snapshot after every write.
//
// Every write follows the same path under one mutex: build the candidate full state, compile and
// validate it into a snapshot, commit the entity change and its audit event in one bbolt
// transaction, then publish the snapshot. A write that would produce an invalid snapshot is
// refused with 400 and nothing is stored; the proxy keeps the last good snapshot.
//
// Entities are kept as JSON documents (objects decoded into maps), so fields Torii does not know
// round-trip untouched; the typed route and API key packages are used to validate and compile,
// never to re-serialize.
//
// # Caveats
//
// The server runs on net/http goroutines, never on the proxy's event loops. Reads see an immutable
// state loaded through one atomic pointer and never block writers; writers serialize on one mutex
// that is held across the bbolt commit (an fsync), which is fine because admin writes are rare.
// Documents held in a state are never mutated after they are published: every change works on a
// deep copy. The bbolt file is opened exclusively; [Server.DB] shares it (for example with the
// quota persister, bucket "quotas") and stays valid until [Server.Close].
package admin
