package soak_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

var toriiBin string

// TestMain builds the binary, or takes SOAK_TORII_BIN (to soak a given build).
func TestMain(m *testing.M) {
	if toriiBin = os.Getenv("SOAK_TORII_BIN"); toriiBin != "" {
		os.Exit(m.Run())
	}
	os.Exit(testkit.MainWithTorii(m, &toriiBin))
}

// The bounds the soak fails on, comparing the last sample (taken after the traffic stopped
// and 2 s of settling) with the first one taken after the warm-up.
const (
	rssGrowthFactor = 1.5        // RSS may grow by half...
	rssGrowthSlack  = 32 << 20   // ...plus 32 MiB (GC pacing, pools filled by the large bodies)
	goroutineSlack  = 50         // goroutines: pumps and dials of the last second
	fdSlack         = 64         // descriptors: connections still closing
	maxPooled       = 2 * 64 * 3 // loops × --pool-idle × targets: the structural bound
)

// TestSoak runs "torii serve" under bounded mixed traffic for SOAK_DURATION (default 60 s;
// "make soak" runs 10 minutes): keep-alive and new connections, pipelined, chunked,
// WebSocket and large (pumped) bodies, slow clients, API-key calls above their throttling
// quota, a configuration change every second, and a backend killed and restarted every 30 s.
// It samples RSS, goroutines, open descriptors, pooled connections and the outcome counts at
// regular intervals (every minute; every 10 s for runs under 6 minutes), fails on growth
// beyond the bounds above, and on any request that failed for another reason than the
// injected faults (5xx on the route of the killed backend, 429 for the key above its quota).
// With SOAK_REPORT=path it writes the samples there as a Markdown table.
func TestSoak(t *testing.T) {
	dur := 60 * time.Second
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		dur = d
	}
	every := time.Minute
	if dur < 6*time.Minute {
		every = 10 * time.Second
	}
	if v := os.Getenv("SOAK_SAMPLE_EVERY"); v != "" {
		every, _ = time.ParseDuration(v)
	}
	s := newSoak(t)
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()

	var wg sync.WaitGroup
	only := os.Getenv("SOAK_ONLY") // a comma-separated list of workers, to chase a problem
	run := func(name string, pace time.Duration, f func(ctx context.Context) error) {
		if only != "" && !strings.Contains(","+only+",", ","+name+",") {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := f(ctx); err != nil && ctx.Err() == nil {
					s.tally.unexplained(name, err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(pace):
				}
			}
		}()
	}
	kaStable, kaFlaky := s.keepAlive("stable.test"), s.keepAlive("flaky.test")
	run("keep-alive", 2*time.Millisecond, kaStable)
	run("keep-alive flaky", 5*time.Millisecond, kaFlaky)
	run("new connection", 5*time.Millisecond, s.newConn)
	run("pipelined", 20*time.Millisecond, s.pipelined)
	run("chunked upload", 20*time.Millisecond, s.chunkedUpload)
	run("large bodies", 250*time.Millisecond, s.largeBodies)
	run("websocket", 200*time.Millisecond, s.websocket)
	run("slow client", 100*time.Millisecond, s.slowClient)
	run("slow client", 100*time.Millisecond, s.slowClient)
	run("api key", 20*time.Millisecond, s.keyed(s.keepAliveConn()))
	run("config change", time.Second, s.configChange)
	wg.Add(1)
	killEvery := 30 * time.Second
	if v := os.Getenv("SOAK_KILL_EVERY"); v != "" {
		if killEvery, _ = time.ParseDuration(v); killEvery <= 0 {
			t.Fatalf("SOAK_KILL_EVERY %q", v)
		}
	}
	go func() { defer wg.Done(); s.killer(ctx, killEvery) }()

	var samples []sample
	samples = append(samples, s.sample(0))
	tick := time.NewTicker(every)
	start := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			samples = append(samples, s.sample(time.Since(start)))
			t.Logf("%s", samples[len(samples)-1])
		}
	}
	tick.Stop()
	wg.Wait()
	time.Sleep(2 * time.Second) // let closing connections close
	final := s.sample(time.Since(start))
	final.label = "end (+2 s idle)"
	samples = append(samples, final)
	t.Logf("%s", final)
	report := s.report(dur, samples)
	t.Logf("\n%s", report)
	if path := os.Getenv("SOAK_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}

	if n, ex := s.tally.unexplainedCount(); n > 0 {
		t.Errorf("%d requests failed for no injected reason; first ones:\n%s", n, strings.Join(ex, "\n"))
	}
	if s.tally.get("ok") == 0 {
		t.Error("no request succeeded")
	}
	warm := samples[min(1, len(samples)-1)]
	if lim := int64(float64(warm.rss)*rssGrowthFactor) + rssGrowthSlack; final.rss > lim {
		t.Errorf("RSS grew from %d to %d bytes (bound %d)", warm.rss, final.rss, lim)
	}
	if final.goroutines > warm.goroutines+goroutineSlack {
		t.Errorf("goroutines grew from %d to %d (bound +%d)", warm.goroutines, final.goroutines, goroutineSlack)
	}
	if final.fds > warm.fds+fdSlack {
		t.Errorf("open descriptors grew from %d to %d (bound +%d)", warm.fds, final.fds, fdSlack)
	}
	for _, sm := range samples {
		if sm.pooled > maxPooled {
			t.Errorf("%d pooled connections at %v (bound %d)", sm.pooled, sm.at, maxPooled)
		}
	}
	if s.kills.Load() == 0 && dur >= 30*time.Second {
		t.Error("the backend was never killed")
	}
	select {
	case <-s.torii.Exited():
		t.Fatalf("torii exited during the soak: %v", s.torii.Cmd.ProcessState)
	default:
	}
	s.torii.Stop()
}

// soak is the gateway under test, its backends and the outcome counts.
type soak struct {
	t          *testing.T
	torii      *testkit.Torii
	id, secret string
	flaky      *restartable
	kills      atomic.Int64
	churn      atomic.Int64
	tally      tally
	admin      *http.Client
	stableAddr string
}

var keyRe = regexp.MustCompile(`clientId:\s+(\S+)\s+clientSecret:\s+(\S+)`)

func newSoak(t *testing.T) *soak {
	s := &soak{t: t, admin: &http.Client{Timeout: 10 * time.Second}}
	s.stableAddr = testkit.Backend(t, backendHandler())
	s.flaky = newRestartable(t, backendHandler())
	s.torii = testkit.StartTorii(t, toriiBin, "serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--echo", "off", "--data-dir", t.TempDir(), "--loops", "2", "--health-interval", "1h",
		"--pool-idle", "64") // the structural bound below (the default is 512 with HTTP/2 on the loops)
	m := keyRe.FindStringSubmatch(s.torii.Out.String())
	if m == nil {
		t.Fatalf("no admin key printed:\n%s", s.torii.Out)
	}
	s.id, s.secret = m[1], m[2]
	s.mustAPI(201, "POST", "/api/routes", routeJSON("stable", "stable.test", s.stableAddr, ""))
	s.mustAPI(201, "POST", "/api/routes", routeJSON("flaky", "flaky.test", s.flaky.addr, ""))
	s.mustAPI(201, "POST", "/api/routes", routeJSON("churn", "churn.test", s.stableAddr, ""))
	s.mustAPI(201, "POST", "/api/routes", routeJSON("keyed", "keyed.test", s.stableAddr,
		`,"plugins":[{"enabled":true,"plugin":"cp:otoroshi.next.plugins.ApikeyCalls","config":{}}]`))
	s.mustAPI(201, "POST", "/api/apikeys", `{"clientId":"soak_key","clientSecret":"soak-secret-0123456789",
		"clientName":"soak","authorizedEntities":["route_keyed"],"throttlingQuota":40}`)
	for _, host := range []string{"stable.test", "flaky.test", "churn.test"} {
		testkit.Eventually(t, "route "+host+" serves", func() error {
			c, err := net.DialTimeout("tcp", s.torii.Proxy, time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			return exchange(c, bufio.NewReader(c), "GET /small HTTP/1.1\r\nHost: "+host+"\r\n\r\n", 200)
		})
	}
	return s
}

func routeJSON(id, domain, addr, extra string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf(`{"id":%q,"name":%q,"frontend":{"domains":[%q]},
		"backend":{"targets":[{"hostname":%q,"port":%s}]}%s}`, id, id, domain, host, port, extra)
}

func (s *soak) api(method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, "http://"+s.torii.Admin+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(s.id, s.secret)
	resp, err := s.admin.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (s *soak) mustAPI(want int, method, path, body string) []byte {
	s.t.Helper()
	code, b, err := s.api(method, path, body)
	if err != nil || code != want {
		s.t.Fatalf("%s %s: %d %v %s", method, path, code, err, b)
	}
	return b
}

// backendHandler serves /small, /echo (the request body back), /large?n= (n bytes), /chunked
// (a chunked response) and /ws (a WebSocket echo).
func backendHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/large", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := bytes.Repeat([]byte("L"), 64<<10)
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, _ *http.Request) {
		for range 4 {
			_, _ = io.WriteString(w, "chunk")
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: %s\r\n\r\n", testkit.WSAccept(r.Header.Get("Sec-WebSocket-Key")))
		_ = rw.Flush()
		for {
			p, err := testkit.WSReadFrame(rw)
			if err != nil {
				return
			}
			if testkit.WSWriteFrame(rw, p, false) != nil || rw.Flush() != nil {
				return
			}
		}
	})
	return mux
}

// restartable is a backend whose listener and connections can be killed and brought back on
// the same port.
type restartable struct {
	t    *testing.T
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func newRestartable(t *testing.T, h http.Handler) *restartable {
	r := &restartable{t: t, h: h, addr: "127.0.0.1:0"}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *restartable) start() {
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after the kill
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Errorf("cannot restart the backend on %s: %v", r.addr, err)
		return
	}
	r.addr = ln.Addr().String()
	srv := &http.Server{Handler: r.h, ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// kill closes the listener and every connection at once, as a crash would.
func (r *restartable) kill() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (s *soak) killer(ctx context.Context, every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		s.flaky.kill()
		s.kills.Add(1)
		time.Sleep(time.Second)
		s.flaky.start()
	}
}

// tally counts outcomes: "ok", the injected kinds, and unexplained failures with examples.
type tally struct {
	mu       sync.Mutex
	counts   map[string]int64
	examples []string
}

func (t *tally) add(kind string) {
	t.mu.Lock()
	if t.counts == nil {
		t.counts = map[string]int64{}
	}
	t.counts[kind]++
	t.mu.Unlock()
}

func (t *tally) get(kind string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[kind]
}

func (t *tally) unexplained(what string, err error) {
	t.add("unexplained")
	t.mu.Lock()
	if len(t.examples) < 10 {
		t.examples = append(t.examples, time.Now().Format("15:04:05.000 ")+what+": "+err.Error())
	}
	t.mu.Unlock()
}

func (t *tally) unexplainedCount() (int64, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts["unexplained"], append([]string(nil), t.examples...)
}

func (t *tally) snapshot() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := make(map[string]int64, len(t.counts))
	for k, v := range t.counts {
		m[k] = v
	}
	return m
}

// errStatus is a response with another status than the one expected.
type errStatus struct {
	got, want int
	body      string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("status %d, want %d (%.200s)", e.got, e.want, e.body)
}

// exchange writes raw and reads one response, which must have status want.
func exchange(c net.Conn, br *bufio.Reader, raw string, want int) error {
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return err
	}
	return readStatus(br, want)
}

func readStatus(br *bufio.Reader, want int) error {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return &errStatus{got: resp.StatusCode, want: want, body: string(b)}
	}
	return nil
}

// keptConn is a keep-alive connection a worker reuses; it redials after a failure.
type keptConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

func (k *keptConn) do(raw string, want int) error {
	if k.c == nil {
		c, err := net.DialTimeout("tcp", k.addr, 5*time.Second)
		if err != nil {
			return err
		}
		k.c, k.br = c, bufio.NewReader(c)
	}
	err := exchange(k.c, k.br, raw, want)
	var st *errStatus
	if err != nil && !errors.As(err, &st) {
		_ = k.c.Close()
		k.c = nil
	}
	return err
}

func (s *soak) keepAliveConn() *keptConn { return &keptConn{addr: s.torii.Proxy} }

// keepAlive sends GETs to host on one keep-alive connection. On flaky.test, 5xx answers and
// lost connections are the injected fault.
func (s *soak) keepAlive(host string) func(context.Context) error {
	k := s.keepAliveConn()
	return func(context.Context) error {
		err := k.do("GET /small HTTP/1.1\r\nHost: "+host+"\r\n\r\n", 200)
		return s.judge(err, host == "flaky.test", false)
	}
}

// judge counts err as ok, an injected fault or returns it as unexplained.
func (s *soak) judge(err error, flaky, keyed bool) error {
	if err == nil {
		s.tally.add("ok")
		return nil
	}
	var st *errStatus
	isStatus := errors.As(err, &st)
	switch {
	case flaky && isStatus && st.got >= 502 && st.got <= 504:
		s.tally.add("injected: backend killed (5xx)")
		return nil
	case flaky && !isStatus:
		// A keep-alive connection the proxy closed after the backend died mid-exchange.
		s.tally.add("injected: backend killed (connection closed)")
		return nil
	case keyed && isStatus && st.got == 429:
		s.tally.add("injected: over the key's quota (429)")
		return nil
	}
	return err
}

func (s *soak) newConn(context.Context) error {
	c, err := net.DialTimeout("tcp", s.torii.Proxy, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return s.judge(exchange(c, bufio.NewReader(c), "GET /small HTTP/1.1\r\nHost: stable.test\r\nConnection: close\r\n\r\n", 200), false, false)
}

func (s *soak) pipelined(context.Context) error {
	c, err := net.DialTimeout("tcp", s.torii.Proxy, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	const n = 8
	if _, err := io.WriteString(c, strings.Repeat("GET /chunked HTTP/1.1\r\nHost: stable.test\r\n\r\n", n)); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	for range n {
		if err := s.judge(readStatus(br, 200), false, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *soak) chunkedUpload(context.Context) error {
	c, err := net.DialTimeout("tcp", s.torii.Proxy, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	body := "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	return s.judge(exchange(c, bufio.NewReader(c), "POST /echo HTTP/1.1\r\nHost: churn.test\r\nTransfer-Encoding: chunked\r\n\r\n"+body, 200), false, false)
}

// largeBodies uploads 2 MiB and downloads 4 MiB through a client reading in small bites, so
// that exchanges move to pumps.
func (s *soak) largeBodies(context.Context) error {
	c, err := net.DialTimeout("tcp", s.torii.Proxy, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(32 << 10)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	up := bytes.Repeat([]byte("U"), 2<<20)
	go func() {
		_, _ = fmt.Fprintf(c, "POST /large?n=%d HTTP/1.1\r\nHost: stable.test\r\nContent-Length: %d\r\n\r\n", 4<<20, len(up))
		_, _ = c.Write(up)
	}()
	br := bufio.NewReaderSize(c, 4<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || n != 4<<20 {
		return fmt.Errorf("large body: %d, %d bytes", resp.StatusCode, n)
	}
	return s.judge(nil, false, false)
}

func (s *soak) websocket(context.Context) error {
	c, err := net.DialTimeout("tcp", s.torii.Proxy, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("soak-ws-key-0123"))
	_, _ = fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: stable.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != 101 {
		return &errStatus{got: resp.StatusCode, want: 101}
	}
	for i := range 5 {
		msg := bytes.Repeat([]byte{byte('a' + i)}, 100*(i+1))
		if err := testkit.WSWriteFrame(c, msg, true); err != nil {
			return err
		}
		got, err := testkit.WSReadFrame(br)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("websocket echo: %d bytes for %d", len(got), len(msg))
		}
	}
	return s.judge(nil, false, false)
}

// slowClient sends its request a few bytes at a time (about 1 s for the head, well within
// the header timeout) and reads the response 16 bytes at a time.
func (s *soak) slowClient(context.Context) error {
	c, err := net.DialTimeout("tcp", s.torii.Proxy, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	raw := "POST /echo HTTP/1.1\r\nHost: stable.test\r\nContent-Length: 10\r\n\r\n0123456789"
	for i := 0; i < len(raw); i += 4 {
		if _, err := io.WriteString(c, raw[i:min(i+4, len(raw))]); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	br := bufio.NewReaderSize(&slowReader{r: c}, 16)
	return s.judge(readStatus(br, 200), false, false)
}

type slowReader struct{ r io.Reader }

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	return s.r.Read(p[:min(len(p), 16)])
}

// keyed calls the API-key route at about 50 calls/s, above its throttling quota of 40.
func (s *soak) keyed(k *keptConn) func(context.Context) error {
	return func(context.Context) error {
		err := k.do("GET /small HTTP/1.1\r\nHost: keyed.test\r\nOtoroshi-Client-Id: soak_key\r\n"+
			"Otoroshi-Client-Secret: soak-secret-0123456789\r\n\r\n", 200)
		return s.judge(err, false, true)
	}
}

// configChange rewrites the churn route once a second (a new name and header), a full
// snapshot publish each time.
func (s *soak) configChange(context.Context) error {
	n := s.churn.Add(1)
	code, b, err := s.api("PATCH", "/api/routes/churn", fmt.Sprintf(`{"name":"churn-%d"}`, n))
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("config change: %d %.200s", code, b)
	}
	s.tally.add("config changes")
	return nil
}

// sample is one measurement of the torii process.
type sample struct {
	at         time.Duration
	label      string
	rss        int64
	heap       int64 // Go heap in use (go_memstats_heap_inuse_bytes)
	fds        int
	goroutines int
	pooled     int
	counts     map[string]int64
}

func (sm sample) String() string {
	return fmt.Sprintf("%6s RSS %6.1f MiB  heap %6.1f MiB  goroutines %4d  fds %4d  pooled %3d  %v",
		sm.at.Round(time.Second), float64(sm.rss)/(1<<20), float64(sm.heap)/(1<<20), sm.goroutines, sm.fds, sm.pooled, sm.counts)
}

var (
	goroutinesRe = regexp.MustCompile(`(?m)^go_goroutines (\d+)`)
	heapRe       = regexp.MustCompile(`(?m)^go_memstats_heap_inuse_bytes (\d+)`)
	pooledRe     = regexp.MustCompile(`(?m)^torii_upstream_pool_connections\{[^}]*\} (\d+)`)
	rssRe        = regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`)
)

func (s *soak) sample(at time.Duration) sample {
	sm := sample{at: at, counts: s.tally.snapshot()}
	pid := s.torii.Cmd.Process.Pid
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		if m := rssRe.FindSubmatch(b); m != nil {
			kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
			sm.rss = kb << 10
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		sm.fds = len(ents)
	}
	if code, b, err := s.api("GET", "/metrics", ""); err == nil && code == 200 {
		if m := goroutinesRe.FindSubmatch(b); m != nil {
			sm.goroutines, _ = strconv.Atoi(string(m[1]))
		}
		if m := heapRe.FindSubmatch(b); m != nil {
			sm.heap, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
		for _, m := range pooledRe.FindAllSubmatch(b, -1) {
			n, _ := strconv.Atoi(string(m[1]))
			sm.pooled += n
		}
	} else {
		s.tally.unexplained("metrics", fmt.Errorf("admin /metrics: %d %v", code, err))
	}
	return sm
}

// report renders the samples as a Markdown table.
func (s *soak) report(dur time.Duration, samples []sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Soak of %v (%d backend kills, %d config changes)\n\n", dur, s.kills.Load(), s.churn.Load())
	b.WriteString("| t | RSS MiB | Go heap MiB | goroutines | fds | pooled | ok | injected | unexplained |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, sm := range samples {
		var injected int64
		for k, v := range sm.counts {
			if strings.HasPrefix(k, "injected") {
				injected += v
			}
		}
		at := sm.at.Round(time.Second).String()
		if sm.label != "" {
			at = sm.label
		}
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %d | %d | %d | %d | %d | %d |\n", at, float64(sm.rss)/(1<<20), float64(sm.heap)/(1<<20), sm.goroutines,
			sm.fds, sm.pooled, sm.counts["ok"], injected, sm.counts["unexplained"])
	}
	last := samples[len(samples)-1].counts
	keys := make([]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("\nOutcomes at the end:\n\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %d\n", k, last[k])
	}
	return b.String()
}
