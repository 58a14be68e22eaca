package core

import (
	"os"
	"runtime"
)

// spareProc makes GOMAXPROCS at least loops+1, unless the GOMAXPROCS
// environment variable set it, and returns the value in force.
//
// An event loop spends its idle time in epoll_wait, a system call during
// which its goroutine keeps the runtime's P (a Go processor). When every P
// is held by a loop, any other goroutine that becomes runnable (gnet's
// ticker every TickInterval, a dial, a pump, the admin API, a GC worker)
// has to wait for sysmon to take a P away from a loop, and that loop, when
// its epoll_wait returns with requests, waits in turn for a P: its
// goroutine moves to another OS thread behind the intruder. On a CPU shared
// with other processes each such hand-over can wait for a whole scheduler
// slice. A spare P removes the contention: the other goroutines run on it,
// and the OS, not the Go scheduler, shares the CPUs.
//
// Measured with `torii proxy --loops 1` pinned to one CPU (GOMAXPROCS 1 by
// default, from the affinity mask) on a machine whose two CPUs other work
// kept busy (load average 7 to 8): at 5000 req/s open loop the median
// latency was 1.8 ms to 275 ms with GOMAXPROCS 1 against 0.52 to 0.57 ms
// with 2, in each of six alternating rounds, and closed-loop throughput
// doubled in three of three. At load 2.2 to 3.4, closed loop over 16
// connections: 23,700 to 31,400 req/s against 13,100 to 20,300, p99 1.3 to
// 3.7 ms against 6.4 to 9.0 ms, CPU per request no higher, in four of four
// alternating rounds; the open-loop latency at 5000 req/s (load 3.5) did
// not move beyond the noise. When the proxy's CPU was quiet (bench/ab.sh,
// 4 rounds of 100,000 requests) throughput and p99 were the same both ways
// (32,600 to 33,700 req/s, p99 1.25 to 1.34 ms) and the spare P cost 4 to
// 7% more CPU per request (26.1 to 26.9 µs against 25.1 to 25.3): the
// price below.
//
// The price: gnet's loop calls runtime.Gosched whenever a non-blocking
// epoll_wait finds nothing, and with an idle P the runtime then wakes
// another thread that finds no work and sleeps again: about 0.5 futex
// calls per request at 16 connections (perf, syscalls:sys_enter_futex),
// none with GOMAXPROCS 1, and twice the context switches. Set GOMAXPROCS
// to opt out; bench/ab.sh and bench/compare -torii-env GOMAXPROCS=1
// measure both.
func spareProc(loops int) int {
	cur := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" || cur > loops {
		return cur
	}
	runtime.GOMAXPROCS(loops + 1)
	return loops + 1
}
