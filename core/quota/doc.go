// Package quota counts API key calls against Otoroshi's three quotas
// (throttling per 10-second window, per calendar day, per calendar month) and
// persists the daily and monthly counts to bbolt.
//
// Counters is a sharded in-memory table keyed by client id: xxhash of the id
// selects a shard, each shard is a short mutex and a map, padded to its own
// cache line. The counts of one key live in a Slot, one cache line with its
// own lock; callers that keep a key's Slot (package apikey binds them when it
// compiles keys) skip the hash and the map. TakeSlot checks and counts one
// call in a single critical section, so the number of calls accepted in a
// window never exceeds the quota on one node, whatever the number of event
// loops calling it. A refused call is not counted.
//
// Windows: the throttling window is 10 s aligned on the Unix epoch; the day
// and month windows are calendar days and months in the configured time zone
// (UTC by default), computed with time.Date, so a DST day lasts 23 or 25
// hours. A limit of Unlimited (10000000, Otoroshi's value) or more is never
// enforced, but calls are still counted for the usage report.
//
// Persister writes the daily and monthly counts of the keys that changed to a
// bbolt bucket from its own goroutine, at least once a second and once more
// on shutdown, and restores them when it is created.
//
// # Caveats
//
// Counters is safe for concurrent use by any number of goroutines; Take and
// TakeSlot hold a lock for a few tens of nanoseconds and never perform I/O,
// so they may run on an event loop. The first Take or Slot call for a client
// id allocates its Slot (once per key, for the life of the process). Runtime
// state survives configuration reloads because it is keyed by client id,
// outside any snapshot; only a deleted key's slot leaves the table (Remove),
// with its persisted record (DeleteRecord, or PruneRecords at start for keys
// deleted while the process was down), so that a key created again with the
// same client id starts from zero.
//
// Time comes from the caller (now), read by each event loop at slightly
// different moments: a call stamped up to one second before its key's
// current window is counted in that window, so skew between loops never
// resets a count. A clock stepping back further restarts the windows: the
// exactness guarantee assumes a clock that does not jump backwards.
//
// Persistence is periodic, not synchronous: after a crash (not a graceful
// shutdown, which flushes) up to one flush interval (1 s by default) of daily
// and monthly increments is lost, so a key may be granted that many extra
// calls in the current day or month after the restart. The 10-second
// throttling counts are not persisted at all; a restart starts a fresh
// throttling window. Counts are per node: several Torii nodes do not share
// them.
package quota
