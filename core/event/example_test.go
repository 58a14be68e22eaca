package event_test

import (
	"context"
	"net/netip"
	"time"

	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/httpparse"
)

// Example shows the wiring: one Hub and one metric.Set per process, a Ring,
// IDGen and per-connection Record per event loop, RouteMetrics per compiled
// route, and what a loop does at the start and end of an exchange.
func Example() {
	const loops = 2
	set := metric.NewSet(loops)
	hub := event.NewHub(event.Options{Loops: loops, Metrics: set})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go hub.Run(ctx)
	live := metric.NewLive(set)
	go live.Run(ctx)

	// When a snapshot is compiled (off the loop):
	routes := set.SyncRoutes([]string{"route_1"})

	// On loop 1, per exchange:
	loop := 1
	ring, ids := hub.Ring(loop), event.NewIDGen(loop)
	var rec event.Record // one per client connection, reused
	start := time.Now()
	id := ids.Next(start.UnixMilli())
	var header []byte
	header = event.AppendID(header, id) // the Otoroshi-Request-Id value
	_ = header
	rec.Reset(ring.CapturesHeaders())
	rec.ReqID, rec.Start = id, start.UnixNano()
	rec.Method, rec.Version = httpparse.MethodGet, httpparse.HTTP11
	rec.From = netip.MustParseAddr("192.0.2.1")
	rec.SetHost([]byte("api.example.com")) // copied: wire bytes may die after the callback
	rec.SetURI([]byte("/users"))
	rec.RouteID, rec.RouteName = "route_1", "Users"
	routes[0].Begin(loop)
	// ... later, when the last response byte is written:
	total, backend := 3*time.Millisecond, 2*time.Millisecond
	rec.Status, rec.DataIn, rec.DataOut = 200, 120, 2048
	rec.Duration, rec.Backend = int64(total), int64(backend)
	ring.Push(&rec) // false (and counted) when the exporter side is behind
	routes[0].Done(loop, 200, 120, 2048, total, backend, total-backend)
}
