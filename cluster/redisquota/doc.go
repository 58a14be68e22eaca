// Package redisquota is the Redis lease source of cluster-wide quotas (quota.LeaseSource): each
// worker takes leases of calls from Redis, atomically, with a Lua script per key and window
// that never grants more than what remains, and gives unspent calls back.
//
// Keys: torii:q:{<clientId>}:w:<start ms> (10-second throttling window), :d:<start ms> (day),
// :m:<start ms> (month), each an integer of calls leased, expiring at its window's end plus a
// minute. The hash tag keeps a key's windows in one slot of a Redis Cluster.
//
// The client is rueidis (auto-pipelining: concurrent calls share round trips); a batch of
// lease requests is one pipelined round trip. BENCHMARKS.md compares it with go-redis.
//
// # Caveats
//
// Source's methods are called from the quota lease goroutine only, never from an event loop;
// each call is bounded by its context. The client is created lazily, so that a worker starts
// while Redis is down (the quotas then fail open or closed, see quota.FailMode).
package redisquota
