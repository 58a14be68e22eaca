package core

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

// BenchmarkObserveExchange is what observation adds to one exchange on the
// loop, without any I/O: every obs* step of a proxied GET, the Otoroshi
// headers both ways, the record pushed into a ring the hub drains (no
// exporter) and the route metrics. Compare its ns/op with the whole
// exchange's (BenchmarkProxyGet):
//
//	go test -run '^$' -bench 'ObserveExchange|ProxyGet$' -benchmem ./core/
func BenchmarkObserveExchange(b *testing.B) {
	for _, capture := range []bool{false, true} {
		name := "headers=off"
		if capture {
			name = "headers=on"
		}
		b.Run(name, func(b *testing.B) { benchObserveExchange(b, capture) })
	}
}

func benchObserveExchange(b *testing.B, capture bool) {
	set := metric.NewSet(1)
	hub := event.NewHub(event.Options{Loops: 1, Metrics: set, CaptureHeaders: capture, PollInterval: 100 * time.Microsecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	s, err := NewServer(Config{Listen: "127.0.0.1:0", Loops: 1, Events: hub, Metrics: set})
	if err != nil {
		b.Fatal(err)
	}
	r, err := QuickRoute([]string{"http://127.0.0.1:1"})
	if err != nil {
		b.Fatal(err)
	}
	table, err := route.Compile([]route.Route{r}, route.CompileOptions{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	snap := &Snapshot{Routes: table, Version: 1}
	s.Publish(snap)
	snap = s.Snapshot()
	lp := newLoop(s, nil)
	lp.initObserve(0)
	cc := &clientConn{lp: lp, remote: netip.MustParseAddr("127.0.0.1")}
	reqBuf := []byte("GET /hello?x=1 HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: torii-bench\r\nAccept: */*\r\n\r\n")
	lp.req.Headers = lp.reqHdr[:0]
	if _, err := httpparse.ParseRequest(reqBuf, &lp.req, &s.cfg.Limits); err != nil {
		b.Fatal(err)
	}
	rt := table.Match(&lp.req, reqBuf)
	if rt == nil {
		b.Fatal("no route")
	}
	up := &rt.Upstreams()[0]
	cc.head = []byte("GET /hello?x=1 HTTP/1.1\r\n")
	us := &upstreamConn{}
	respBuf := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n")
	us.resp.Headers = us.hdr[:0]
	if _, err := httpparse.ParseResponse(respBuf, &us.resp, &s.cfg.Limits); err != nil {
		b.Fatal(err)
	}
	us.framing, us.out = httpparse.FramingLength, outPass
	scratch := make([]byte, 0, 1024)
	host := lp.req.Host.Bytes(reqBuf)

	b.ReportAllocs()
	b.ResetTimer()
	ring := hub.Ring(0)
	for i := range b.N {
		if i%512 == 0 && ring.Len() > 0 {
			// Let the hub drain, off the clock, so that every record is
			// copied into the ring (a full ring drops, which costs less).
			b.StopTimer()
			for ring.Len() > 0 {
				time.Sleep(50 * time.Microsecond)
			}
			b.StartTimer()
		}
		lp.obsBegin(cc, reqBuf, len(reqBuf))
		lp.obsRoute(cc, snap, rt)
		scratch = lp.appendOtoroshiIn(scratch[:0], cc, host)
		lp.obsBackend(cc, up)
		lp.obsResponse(cc, us, respBuf)
		scratch = lp.appendOtoroshiBack(scratch[:0], cc)
		cc.obs.dataOut += int64(len(respBuf)) + 13
		lp.s.endExchange(lp, cc, nil, endDone, 0)
	}
	b.StopTimer()
	b.ReportMetric(float64(hub.Ring(0).Drops()), "ring_drops")
}
