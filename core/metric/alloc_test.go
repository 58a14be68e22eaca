//go:build !race

package metric

import (
	"testing"
	"time"
)

func TestRecordAllocs(t *testing.T) {
	m := NewSet(4).Route("r")
	n := testing.AllocsPerRun(1000, func() {
		m.Begin(1)
		m.Done(1, 200, 100, 1000, 3*time.Millisecond, 2*time.Millisecond, time.Millisecond)
		m.QuotaRejected(1)
	})
	if n != 0 {
		t.Fatalf("recording allocates %v times per request", n)
	}
}
