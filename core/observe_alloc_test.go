//go:build !race

package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/metric"
)

// With events (headers captured, drained by the hub), metrics, live stats and
// the Otoroshi headers both ways, a proxied small GET still allocates nothing
// in steady state. The hub has no exporter here, so what is counted is the
// loop's recording and the hub's draining (encoding and exporting are the
// event package's, with their own allocation tests).
func TestObserveZeroAllocs(t *testing.T) {
	set := metric.NewSet(1)
	hub := event.NewHub(event.Options{Loops: 1, Metrics: set, CaptureHeaders: true, PollInterval: time.Millisecond})
	live := metric.NewLive(set)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); hub.Run(ctx) }()
	go func() { defer wg.Done(); live.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	be := startFixedBackend(t)
	o := &observed{set: set, hub: hub, live: live}
	srv := startProxy(t, o.config(1), quickRoute(t, be))
	oc := newObsClient(t, srv.Addr().String())
	for range 2000 {
		oc.do(t)
	}
	if n := testing.AllocsPerRun(5000, func() { oc.do(t) }); n != 0 {
		t.Errorf("%v allocations per observed request, want 0", n)
	}
	waitFor(t, func() bool { return hub.Stats().Recorded >= 7000 }, "the hub to drain 7000 records")
}
