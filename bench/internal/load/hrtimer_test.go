package load

import (
	"testing"
	"time"
)

// TestHRTimerWaits checks waitUntil never returns early and does return:
// how late it is depends on the machine, so that is only logged.
func TestHRTimerWaits(t *testing.T) {
	tm, err := newHRTimer()
	if err != nil {
		t.Fatal(err)
	}
	defer tm.close()
	var late time.Duration
	for range 50 {
		at := time.Now().Add(200 * time.Microsecond)
		if err := tm.waitUntil(at); err != nil {
			t.Fatal(err)
		}
		d := time.Since(at)
		if d < 0 {
			t.Fatalf("waitUntil returned %v early", -d)
		}
		late += d
	}
	if err := tm.waitUntil(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Logf("mean lateness over 50 waits of 200µs: %v", late/50)
}
