//go:build linux

package load

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// hrTimer waits until a point in time with the kernel's high-resolution
// timers: a timerfd, armed relative to now and read through the runtime
// poller, so the goroutine parks as on a socket and wakes within tens of
// microseconds of the deadline. time.Sleep cannot do this for short waits:
// when the process is otherwise idle the runtime sleeps in epoll_wait,
// whose timeout is whole milliseconds, so a 200 µs sleep lasts about a
// millisecond, which would swamp open-loop latencies.
//
// An hrTimer is used by one goroutine at a time.
type hrTimer struct {
	f    *os.File
	fd   uintptr
	spec [4]int64 // struct itimerspec: it_interval {sec, nsec}, it_value {sec, nsec}
	buf  [8]byte
}

const clockMonotonic = 1

func newHRTimer() (*hrTimer, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil, fmt.Errorf("cannot create timerfd: %w", errno)
	}
	// Non-blocking, so os.NewFile hands it to the runtime poller.
	return &hrTimer{fd: fd, f: os.NewFile(fd, "timerfd")}, nil
}

// waitUntil returns at (or just after) at; at once when at has passed.
func (t *hrTimer) waitUntil(at time.Time) error {
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t.spec = [4]int64{0, 0, int64(d / time.Second), int64(d % time.Second)}
	// t.spec lives in the heap object t, valid for the duration of the call.
	if _, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, t.fd, 0,
		uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("cannot arm timerfd: %w", errno)
	}
	if _, err := t.f.Read(t.buf[:]); err != nil {
		return fmt.Errorf("cannot wait on timerfd: %w", err)
	}
	return nil
}

func (t *hrTimer) close() { t.f.Close() }
