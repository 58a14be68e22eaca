// Package soak holds Torii's endurance test: "torii serve" under bounded mixed traffic
// (keep-alive and new connections, pipelined, chunked, WebSocket and large bodies, slow
// clients, API-key calls above their quota, a configuration change every second, a backend
// killed and restarted every 30 s), sampled for RSS, goroutines, descriptors, pooled
// connections and error counts, failing on growth past stated bounds or on any failure the
// injected faults do not explain. "make test" runs it for 60 s, "make soak" for 10 minutes
// (SOAK_DURATION) and writes its table to SOAK_REPORT.
//
// # Caveats
//
// It starts the real binary and loopback backends only; it holds two cores busy for its
// duration, so its figures on a shared machine are noisy.
package soak
