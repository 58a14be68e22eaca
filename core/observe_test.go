package core_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/internal/testkit"
)

// observed is one process's observation wiring, as cmd/torii builds it: one
// metric Set, one Hub with a file exporter writing into a temp dir, one Live.
type observed struct {
	set    *metric.Set
	hub    *event.Hub
	live   *metric.Live
	events string // the file exporter's path
}

// startObserved is startObservedWith for tests: a 1 ms drain poll and
// exporter batches flushed every 10 ms, so that events show up at once.
func startObserved(tb testing.TB, loops int) *observed {
	return startObservedWith(tb, loops, time.Millisecond, 10)
}

// startObservedWith wires observation with the hub's drain poll interval
// and the file exporter's groupDuration (ms); 0 takes the defaults.
func startObservedWith(tb testing.TB, loops int, poll time.Duration, groupMs int64) *observed {
	tb.Helper()
	o := &observed{set: metric.NewSet(loops)}
	o.hub = event.NewHub(event.Options{Loops: loops, Metrics: o.set, CaptureHeaders: true, PollInterval: poll})
	o.live = metric.NewLive(o.set)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); o.hub.Run(ctx) }()
	go func() { defer wg.Done(); o.live.Run(ctx) }()
	tb.Cleanup(func() { cancel(); wg.Wait() })
	o.events = filepath.Join(tb.TempDir(), "events.ndjson")
	c := event.DefaultExporterConfig()
	c.ID, c.Type, c.Enabled = "file", event.TypeFile, true
	if groupMs > 0 {
		c.GroupDuration = groupMs
	}
	c.Config = json.RawMessage(fmt.Sprintf(`{"path":%q,"maxFileSize":67108864,"maxNumberOfFile":1}`, o.events))
	if err := o.hub.SetExporters([]event.ExporterConfig{c}); err != nil {
		tb.Fatal(err)
	}
	return o
}

func (o *observed) config(loops int) core.Config {
	return core.Config{Loops: loops, Events: o.hub, Metrics: o.set, Live: o.live}
}

// waitEvents waits until the exporter's file holds n events and returns them.
func (o *observed) waitEvents(t *testing.T, n int) []map[string]any {
	return testkit.WaitEvents(t, o.events, n)
}

// headerBackend records the Otoroshi request headers it receives.
type headerBackend struct {
	mu   sync.Mutex
	seen []http.Header
}

func (hb *headerBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hb.mu.Lock()
	hb.seen = append(hb.seen, r.Header.Clone())
	hb.mu.Unlock()
	w.Header().Set("X-Backend", "yes")
	w.Header().Set("Otoroshi-Request-Id", "from-backend") // dropped when we send ours
	_, _ = w.Write([]byte("hello"))
}

func (hb *headerBackend) last() http.Header {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.seen[len(hb.seen)-1]
}

func TestObserveProxiedRequest(t *testing.T) {
	o := startObserved(t, 2)
	hb := &headerBackend{}
	be := startBackend(t, hb)
	rt := testRoute("obs.test", be)
	srv := startProxy(t, o.config(2), rt)

	c := dial(t, srv)
	br := bufio.NewReader(c)
	before := time.Now()
	resp, body := roundTrip(t, c, br, "GET /a/b?x=1 HTTP/1.1\r\nHost: obs.test\r\nX-Test: one\r\n"+
		"Otoroshi-Request-Id: 42\r\nAuthorization: Bearer secret\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}

	// To the backend: our id (the client's forged one dropped), proxied host, timestamp.
	in := hb.last()
	if ids := in.Values("Otoroshi-Request-Id"); len(ids) != 1 || ids[0] == "42" {
		t.Fatalf("backend got Otoroshi-Request-Id %q", ids)
	}
	id := in.Get("Otoroshi-Request-Id")
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		t.Fatalf("request id %q: %v", id, err)
	}
	if at := event.IDTime(n); at.Before(before.Add(-time.Millisecond).Truncate(time.Millisecond)) || at.After(time.Now()) {
		t.Fatalf("request id time %v not within the request (%v)", at, before)
	}
	if h := in.Get("Otoroshi-Proxied-Host"); h != "obs.test" {
		t.Fatalf("Otoroshi-Proxied-Host = %q", h)
	}
	ts, err := time.Parse("2006-01-02T15:04:05.000-07:00", in.Get("Otoroshi-Request-Timestamp"))
	if err != nil || ts.Before(before.Add(-time.Second)) || ts.After(time.Now()) {
		t.Fatalf("Otoroshi-Request-Timestamp %q: %v", in.Get("Otoroshi-Request-Timestamp"), err)
	}

	// Back to the client: the same id, the latencies in ms.
	if got := resp.Header.Values("Otoroshi-Request-Id"); len(got) != 1 || got[0] != id {
		t.Fatalf("client got Otoroshi-Request-Id %q, backend %q", got, id)
	}
	for _, h := range []string{"Otoroshi-Proxy-Latency", "Otoroshi-Upstream-Latency"} {
		if v, err := strconv.Atoi(resp.Header.Get(h)); err != nil || v < 0 || v > 5000 {
			t.Fatalf("%s = %q", h, resp.Header.Get(h))
		}
	}

	// A request no route matches: answered 404 by the proxy, recorded too.
	resp, _ = roundTrip(t, c, br, "GET /nope HTTP/1.1\r\nHost: unknown.test\r\n\r\n", "GET")
	if resp.StatusCode != 404 {
		t.Fatalf("unknown host: %d", resp.StatusCode)
	}
	id404 := resp.Header.Get("Otoroshi-Request-Id")

	evs := o.waitEvents(t, 2)
	ev := evs[0]
	str := func(ev map[string]any, path ...string) string {
		var v any = ev
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return ""
			}
			v = m[p]
		}
		return fmt.Sprint(v)
	}
	f := func(ev map[string]any, want string, path ...string) {
		t.Helper()
		if got := str(ev, path...); got != want {
			t.Errorf("%s = %q, want %q (event %v)", strings.Join(path, "."), got, want, ev)
		}
	}
	f(ev, "GatewayEvent", "@type")
	f(ev, id, "reqId")
	f(ev, "200", "status")
	f(ev, "GET", "method")
	f(ev, "HTTP/1.1", "protocol")
	f(ev, "127.0.0.1", "from")
	f(ev, rt.ID, "@serviceId")
	f(ev, rt.Name, "@service")
	f(ev, "obs.test", "to", "host")
	f(ev, "/a/b?x=1", "to", "uri")
	f(ev, be, "target", "host")
	f(ev, "/a/b?x=1", "target", "uri")
	f(ev, "false", "err")
	f(ev, "<nil>", "gwError")
	f(ev, "1", "callAttempts")
	f(ev, "<nil>", "identity")
	if in, _ := strconv.Atoi(str(ev, "data", "dataIn")); in < 60 {
		t.Errorf("dataIn = %d", in)
	}
	if out, _ := strconv.Atoi(str(ev, "data", "dataOut")); out < 5 {
		t.Errorf("dataOut = %d", out)
	}
	hdrs := fmt.Sprint(ev["headers"])
	if !strings.Contains(hdrs, "X-Test") || !strings.Contains(hdrs, event.Redacted) || strings.Contains(hdrs, "secret") {
		t.Errorf("headers = %s", hdrs)
	}
	if !strings.Contains(fmt.Sprint(ev["headersOut"]), "X-Backend") {
		t.Errorf("headersOut = %v", ev["headersOut"])
	}
	ev = evs[1]
	f(ev, "404", "status")
	f(ev, id404, "reqId")
	f(ev, "true", "err")
	f(ev, "errors.service.not.found", "gwError")
	f(ev, "unknown.test", "to", "host")
	f(ev, "", "@serviceId")

	// Metrics: the route's counters, the unmatched request, the connection gauge.
	var prom bytes.Buffer
	o.set.WritePrometheus(&prom)
	for _, want := range []string{
		`torii_http_requests_total{route="` + rt.ID + `",class="2xx"} 1`,
		`torii_http_requests_total{route="_none",class="4xx"} 1`,
		`torii_http_request_duration_seconds_count{route="` + rt.ID + `"} 1`,
		`torii_http_backend_duration_seconds_count{route="` + rt.ID + `"} 1`,
		metric.FamClientConnections + " 1",
		metric.FamCircuitOpen + `{route="` + rt.ID + `",target="t0"} 0`,
	} {
		if !strings.Contains(prom.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(prom.String(), "torii_"))
		}
	}
	waitFor(t, func() bool {
		prom.Reset()
		o.set.WritePrometheus(&prom)
		return strings.Contains(prom.String(), metric.FamUpstreamPoolIdle+`{target="`+be+`"} 1`)
	}, "upstream pool gauge")
	waitFor(t, func() bool {
		st, err := o.live.Stats(rt.ID)
		return err == nil && st.Calls == 1 && st.DataOut > 0
	}, "live stats")
	if st, _ := o.live.Stats(""); st.Calls != 2 {
		t.Fatalf("global live calls = %d, want 2", st.Calls)
	}
}

func TestObserveBackendErrors(t *testing.T) {
	o := startObserved(t, 1)
	dead := deadAddr(t)
	silent := startRawBackend(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 4096)); time.Sleep(3 * time.Second) })
	slow := testRoute("slow.test", silent)
	slow.Backend.Client.CallTimeout = 200
	srv := startProxy(t, o.config(1), testRoute("dead.test", dead), slow)
	cl := client(srv)
	for _, host := range []string{"dead.test", "slow.test"} {
		resp, err := cl.Get("http://" + host + "/")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	evs := o.waitEvents(t, 2)
	want := [][2]string{{"502", "errors.bad.gateway"}, {"504", "errors.request.timeout"}}
	for i, ev := range evs {
		if fmt.Sprint(ev["status"]) != want[i][0] || ev["gwError"] != want[i][1] || ev["err"] != true {
			t.Errorf("event %d: status %v gwError %v err %v, want %v", i, ev["status"], ev["gwError"], ev["err"], want[i])
		}
	}
	var prom bytes.Buffer
	o.set.WritePrometheus(&prom)
	if !strings.Contains(prom.String(), `torii_http_requests_total{route="route_dead_test",class="5xx"} 1`) {
		t.Errorf("/metrics:\n%s", grepLines(prom.String(), "torii_http_requests_total"))
	}
}

func TestObserveHeadersOff(t *testing.T) {
	hb := &headerBackend{}
	be := startBackend(t, hb)
	srv := startProxy(t, core.Config{NoOtoroshiHeadersIn: true, NoOtoroshiHeadersBack: true}, testRoute("off.test", be))
	resp, err := client(srv).Get("http://off.test/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	for name, v := range resp.Header {
		if strings.HasPrefix(name, "Otoroshi-") && (name != "Otoroshi-Request-Id" || v[0] != "from-backend") {
			t.Errorf("client got %s: %s", name, v)
		}
	}
	for name := range hb.last() {
		if strings.HasPrefix(name, "Otoroshi-") {
			t.Errorf("backend got %s", name)
		}
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// An API key call's event carries the key's identity and remaining quotas;
// the call refused by the quota is counted in the route's metrics.
func TestObserveAPIKeyIdentity(t *testing.T) {
	o := startObserved(t, 2)
	be := startHeaderEcho(t)
	k := testKey("obs-key", "obs-secret")
	k.ClientName, k.DailyQuota = "Observed key", 1
	k.Tags, k.Metadata = []string{"team-a"}, map[string]string{"owner": "alice"}
	q := quota.New(quota.Options{})
	cfg := o.config(2)
	cfg.Quotas = q
	srv := startProxy(t, cfg)
	rt := keyRoute("keys.test", "", "", be)
	publishKeys(t, srv, q, 2, []apikey.ApiKey{k}, nil, rt)

	c := dial(t, srv)
	br := bufio.NewReader(c)
	req := "GET / HTTP/1.1\r\nHost: keys.test\r\nOtoroshi-Client-Id: obs-key\r\nOtoroshi-Client-Secret: obs-secret\r\n\r\n"
	for _, want := range []int{200, 429} {
		if resp, body := roundTrip(t, c, br, req, "GET"); resp.StatusCode != want {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, body)
		}
	}
	evs := o.waitEvents(t, 2)
	id, _ := evs[0]["identity"].(map[string]any)
	if id == nil || id["identityType"] != "APIKEY" || id["identity"] != "obs-key" || id["label"] != "Observed key" ||
		fmt.Sprint(id["tags"]) != "[team-a]" || fmt.Sprint(id["metadata"]) != "map[owner:alice]" {
		t.Fatalf("identity = %v", evs[0]["identity"])
	}
	rq, _ := evs[0]["remainingQuotas"].(map[string]any)
	if rq == nil || fmt.Sprint(rq["authorizedCallsPerDay"]) != "1" || fmt.Sprint(rq["currentCallsPerDay"]) != "1" ||
		fmt.Sprint(rq["remainingCallsPerDay"]) != "0" {
		t.Fatalf("remainingQuotas = %v", evs[0]["remainingQuotas"])
	}
	if evs[1]["status"] != float64(429) || evs[1]["gwError"] != "errors.too.much.requests" {
		t.Fatalf("second event: status %v gwError %v", evs[1]["status"], evs[1]["gwError"])
	}
	var prom bytes.Buffer
	o.set.WritePrometheus(&prom)
	if want := `torii_quota_rejections_total{route="` + rt.ID + `"} 1`; !strings.Contains(prom.String(), want) {
		t.Errorf("/metrics lacks %q:\n%s", want, grepLines(prom.String(), "torii_quota"))
	}
}

// A download moved to a pump goroutine is recorded once, with its whole
// body, through the hub's shared ring; the connection's next request is
// recorded on the loop again.
func TestObservePumpedDownload(t *testing.T) {
	o := startObserved(t, 1)
	payload := bytes.Repeat([]byte("pumped-body-"), 8<<20/12)
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
		_, _ = w.Write(payload)
	}))
	cfg := o.config(1)
	cfg.HighWater = 64 << 10
	srv := startProxy(t, cfg, testRoute("*", be))
	c := dial(t, srv)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
	br := bufio.NewReader(c)
	if _, err := c.Write([]byte("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the backend outrun us
	if _, body := readResponse(t, br, "GET"); len(body) != len(payload) {
		t.Fatalf("got %d bytes, want %d", len(body), len(payload))
	}
	if srv.Stats().Pumped == 0 {
		t.Fatal("no exchange was pumped")
	}
	if resp, _ := roundTrip(t, c, br, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n", "GET"); resp.StatusCode != 200 {
		t.Fatalf("after the pump: %d", resp.StatusCode)
	}
	evs := o.waitEvents(t, 2)
	byURI := map[string]map[string]any{}
	for _, ev := range evs {
		byURI[fmt.Sprint(ev["to"].(map[string]any)["uri"])] = ev
	}
	big := byURI["/big"]
	if big == nil || byURI["/small"] == nil || len(evs) != 2 {
		t.Fatalf("events: %v", evs)
	}
	if out := big["data"].(map[string]any)["dataOut"].(float64); out < float64(len(payload)) || out > float64(len(payload)+4096) {
		t.Errorf("pumped dataOut = %v, want the %d body bytes and a head", out, len(payload))
	}
	if big["status"] != float64(200) || big["err"] != false {
		t.Errorf("pumped event: status %v err %v", big["status"], big["err"])
	}
}

// Random valid and broken exchanges through an observed proxy: every
// exchange that began in the route metrics ends there (no request left in
// flight), every record reaches the hub, and the proxy still serves.
func TestObserveGarbageBalanced(t *testing.T) {
	o := startObserved(t, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	clientParts := []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\nabc\r\n", "0\r\n\r\n", "zz\r\n",
		"GET / HTTP/1.0\r\n\r\n", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", "GET /\x00 HTTP/1.1\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", "GET / HTTP/1.1\r\nHost: nowhere\r\n\r\n",
	}
	backendParts := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", "garbage\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nuntil close", "HTTP/1.1 204 No Content\r\n\r\n", "",
	}
	var mu sync.Mutex
	beRng := rand.New(rand.NewPCG(5, 6))
	be := startRawBackend(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(time.Second))
		mu.Lock()
		reply := backendParts[beRng.IntN(len(backendParts))]
		mu.Unlock()
		if _, err := c.Read(make([]byte, 4096)); err != nil {
			return
		}
		_, _ = io.WriteString(c, reply)
	})
	rt := testRoute("x", be)
	rt.Backend.Client.CallTimeout, rt.Backend.Client.IdleTimeout = 500, 500
	cfg := o.config(2)
	cfg.HeaderTimeout, cfg.IdleTimeout = 500*time.Millisecond, 500*time.Millisecond
	srv := startProxy(t, cfg, rt)

	const cases, parallel = 60, 6
	inputs := make(chan string, cases)
	for range cases {
		var b strings.Builder
		for range 1 + rng.IntN(3) {
			b.WriteString(clientParts[rng.IntN(len(clientParts))])
		}
		inputs <- b.String()
	}
	close(inputs)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range inputs {
				c, err := net.Dial("tcp", srv.Addr().String())
				if err != nil {
					t.Error(err)
					return
				}
				_ = c.SetDeadline(time.Now().Add(3 * time.Second))
				_, _ = io.WriteString(c, in)
				_ = c.(*net.TCPConn).CloseWrite()
				_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	waitFor(t, func() bool { return srv.Stats().Conns == 0 }, "every client connection closed")
	waitFor(t, func() bool {
		var prom bytes.Buffer
		o.set.WritePrometheus(&prom)
		for _, l := range strings.Split(prom.String(), "\n") {
			if strings.HasPrefix(l, "torii_http_requests_in_flight{") && !strings.HasSuffix(l, " 0") {
				return false
			}
		}
		return true
	}, "no request left in flight in the route metrics")
	st := o.hub.Stats()
	if st.RingDrops != 0 || st.Recorded == 0 {
		t.Errorf("hub: %d recorded, %d dropped", st.Recorded, st.RingDrops)
	}
	// One record per request counted in the metrics, and the reverse.
	counted := func() (n uint64) {
		var prom bytes.Buffer
		o.set.WritePrometheus(&prom)
		for _, l := range strings.Split(prom.String(), "\n") {
			if strings.HasPrefix(l, "torii_http_requests_total{") {
				v, _ := strconv.ParseUint(l[strings.LastIndexByte(l, ' ')+1:], 10, 64)
				n += v
			}
		}
		return n
	}
	waitFor(t, func() bool { return o.hub.Stats().Recorded == counted() }, "as many events as counted requests")
	t.Logf("%d events recorded and counted", counted())
}

// A request retried on another target after a refused connection is one
// event, with callAttempts 2 and the target that answered.
func TestObserveRetryAttempts(t *testing.T) {
	o := startObserved(t, 1)
	dead := deadAddr(t)
	good := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	rt := testRoute("retry.test", dead, good)
	rt.Backend.Client.Retries = 2
	srv := startProxy(t, o.config(1), rt)
	c := dial(t, srv)
	br := bufio.NewReader(c)
	for range 2 { // round robin: one of the two starts on the dead target
		if resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: retry.test\r\n\r\n", "GET"); resp.StatusCode != 200 {
			t.Fatalf("status %d %q", resp.StatusCode, body)
		}
	}
	evs := o.waitEvents(t, 2)
	attempts := map[string]bool{}
	for _, ev := range evs {
		attempts[fmt.Sprint(ev["callAttempts"])] = true
		if host := ev["target"].(map[string]any)["host"]; host != good {
			t.Errorf("target.host = %v, want %s", host, good)
		}
	}
	if !attempts["1"] || !attempts["2"] {
		t.Errorf("callAttempts seen: %v, want 1 and 2", attempts)
	}
}

// A hub with fewer rings than the server has loops is refused: two loops
// would share one single-producer ring.
func TestObserveHubTooSmall(t *testing.T) {
	hub := event.NewHub(event.Options{Loops: 1})
	_, err := core.NewServer(core.Config{Listen: "127.0.0.1:0", Loops: 2, Events: hub})
	if !errors.Is(err, core.ErrEventLoops) {
		t.Fatalf("NewServer: %v, want ErrEventLoops", err)
	}
	if _, err := core.NewServer(core.Config{Listen: "127.0.0.1:0", Loops: 2, Events: event.NewHub(event.Options{Loops: 2})}); err != nil {
		t.Fatal(err)
	}
}
