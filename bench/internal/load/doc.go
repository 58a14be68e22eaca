// Package load is the engine of the bench/loadgen command: it drives HTTP/1.1
// traffic over keep-alive connections to one target and measures latency in
// HDR histograms.
//
// Two modes:
//
//   - Closed loop (Rate == 0): each connection sends Pipeline requests, waits
//     for their responses, and repeats. Latency runs from the write of the
//     batch to the end of each response.
//   - Open loop (Rate > 0): slot k of the schedule is due at t0 + k/Rate and
//     belongs to connection k mod Connections, so each connection owns an
//     equal, interleaved share. A pacer goroutine with a high-resolution
//     timer (a timerfd on Linux) releases slots on time; a connection sends
//     a released request at once, even when it is behind (never skipped),
//     and latency runs from the intended time, so a stall is charged to
//     every request it delayed: coordinated omission is corrected the way
//     wrk2 does it. How late each send left is kept too (SendLag).
//
// Each connection is one goroutine with a pre-serialized request, a reused
// read buffer and its own histogram and counters, so the steady state does
// not allocate and connections share nothing but a stop flag and, with a
// request budget, one atomic counter.
//
// # Caveats
//
// Each connection costs about 65 KiB of generator memory (read buffer,
// histograms, counters): thousands of connections are fine, tens of
// thousands need gigabytes.
//
// Run blocks until the duration, the request budget or the context ends, and
// then waits up to Timeout for requests in flight. The Result is owned by the
// caller. Progress lines are written from a separate goroutine to
// Config.Progress, which must tolerate that.
package load
