package main

import (
	"log/slog"

	"golang.org/x/sys/unix"
)

// fdReserve is the number of file descriptors kept out of the client connection budget at
// most: listeners, epoll and event descriptors of the loops, the database, logs, the admin
// API's own connections, health checks and exporters.
const fdReserve = 256

// raiseFDLimit raises the soft RLIMIT_NOFILE to the hard limit, logs both and returns the
// soft limit in force (0 when it cannot be read).
func raiseFDLimit(log *slog.Logger) uint64 {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the file descriptor limit", "err", err)
		return 0
	}
	before := lim.Cur
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("cannot raise the soft file descriptor limit to the hard limit", "soft", before, "hard", lim.Max, "err", err)
			lim.Cur = before
		}
	}
	log.Info("file descriptor limit", "soft", lim.Cur, "hard", lim.Max, "soft_at_start", before)
	return lim.Cur
}

// defaultMaxConns derives the client connection bound from the soft descriptor limit: after
// a reserve of fdReserve (half the limit when that is smaller), three quarters of the rest
// go to client connections and one quarter stays for upstream connections (a busy exchange
// holds one; idle pooled ones are bounded per loop and target). Past the bound a new
// connection is answered 503 instead of meeting EMFILE. 0 (no bound) when soft is unknown.
func defaultMaxConns(soft uint64) int {
	if soft == 0 || soft == unix.RLIM_INFINITY {
		return 0
	}
	reserve := min(uint64(fdReserve), soft/2)
	n := (soft - reserve) * 3 / 4
	return int(min(n, 1<<31-1))
}
