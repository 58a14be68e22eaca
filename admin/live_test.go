package admin

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/metric"
)

func TestLiveAndProxyMetrics(t *testing.T) {
	set := metric.NewSet(1)
	m := set.Route("route_a")
	m.Begin(0)
	m.Done(0, 200, 100, 200, 3*time.Millisecond, 2*time.Millisecond, time.Millisecond)
	live := metric.NewLive(set)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go live.Run(ctx)
	e := newEnv(t, func(o *Options) { o.Metrics, o.Live = set, live })

	st := e.must(http.StatusOK, req{method: "GET", path: "/api/live"}).obj(t)
	for _, k := range []string{"calls", "dataIn", "dataOut", "rate", "duration", "overhead", "concurrentHandledRequests"} {
		if _, ok := st[k]; !ok {
			t.Errorf("/api/live lacks %s: %v", k, st)
		}
	}
	if routes, _ := st["routes"].(map[string]any); routes["route_a"] == nil {
		t.Errorf("/api/live lacks the stats of route_a: %v", st["routes"])
	}
	e.must(http.StatusNotFound, req{method: "GET", path: "/api/live/route_nope"})
	if b := e.must(http.StatusOK, req{method: "GET", path: "/metrics"}).body; !bytes.Contains(b, []byte("route_a")) {
		t.Errorf("/metrics lacks the proxy's route metrics")
	}

	// The stream sends server-sent events until the client leaves.
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	r, _ := http.NewRequestWithContext(rctx, "GET", e.base+"/api/live/route_a?every=100", nil)
	r.SetBasicAuth(testClientID, testSecret)
	res, err := e.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	events := 0
	for events < 2 && sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: {") {
			events++
		}
	}
	if events < 2 {
		t.Fatalf("got %d events: %v", events, sc.Err())
	}
	// Shutting down ends the stream instead of waiting for the client: Serve returns no
	// "cannot shut down" error (stop fails the test on one).
	e.stop()
}
