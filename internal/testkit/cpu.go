package testkit

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime returns the user and system CPU time the process has used so far, or 0 if the
// kernel does not say.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportCPU runs loop, the benchmark's loop, and reports the process CPU time it used per
// op as "cpu-ns/op" next to ns/op: on a shared, overloaded machine wall time also counts
// the time the benchmark waited for a core, CPU time does not. With b.RunParallel it is the
// CPU of all workers, so a parallel speedup shows in ns/op while cpu-ns/op shows what the
// cores spent, spinning and waiting for cache lines included.
func ReportCPU(b *testing.B, loop func()) {
	start := CPUTime()
	loop()
	if b.N > 0 {
		b.ReportMetric(float64(CPUTime()-start)/float64(b.N), "cpu-ns/op")
	}
}
