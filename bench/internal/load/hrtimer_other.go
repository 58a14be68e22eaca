//go:build !linux

package load

import "time"

// hrTimer falls back to time.Sleep outside Linux (millisecond-grade when
// the process is idle; see hrtimer_linux.go).
type hrTimer struct{}

func newHRTimer() (*hrTimer, error) { return &hrTimer{}, nil }

func (t *hrTimer) waitUntil(at time.Time) error {
	time.Sleep(time.Until(at))
	return nil
}

func (t *hrTimer) close() {}
