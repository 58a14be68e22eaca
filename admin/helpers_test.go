package admin

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/dns"
	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/internal/testkit"
)

const (
	testClientID = "adminclienttest1"
	testSecret   = "admin-secret-for-tests-0123456789"
)

// recorder is a Publisher that keeps every snapshot it receives.
type recorder struct {
	mu    sync.Mutex
	snaps []*core.Snapshot
}

func (p *recorder) Publish(s *core.Snapshot) {
	p.mu.Lock()
	p.snaps = append(p.snaps, s)
	p.mu.Unlock()
}

func (p *recorder) last() *core.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.snaps) == 0 {
		return nil
	}
	return p.snaps[len(p.snaps)-1]
}

func (p *recorder) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.snaps)
}

// env is a Server on a real loopback listener with a real bbolt file.
type env struct {
	t      testing.TB
	s      *Server
	pub    *recorder
	base   string
	dbPath string
	client *http.Client
	cancel context.CancelFunc
	done   chan error
}

func newEnv(t *testing.T, tweak func(*Options)) *env {
	t.Helper()
	e := &env{t: t, pub: &recorder{}, dbPath: filepath.Join(t.TempDir(), "torii.db")}
	e.start(tweak)
	return e
}

// newBenchEnv is newEnv for benchmarks, publishing to pub.
func newBenchEnv(b *testing.B, pub Publisher) *env {
	b.Helper()
	e := &env{t: b, pub: &recorder{}, dbPath: filepath.Join(b.TempDir(), "torii.db")}
	e.start(func(o *Options) { o.Publisher = pub })
	return e
}

func (e *env) start(tweak func(*Options)) {
	t := e.t
	t.Helper()
	opts := Options{
		DBPath:                e.dbPath,
		Publisher:             e.pub,
		Logger:                slog.New(slog.NewTextHandler(io.Discard, nil)),
		BootstrapClientID:     testClientID,
		BootstrapClientSecret: testSecret,
		DNS:                   fakeDNS(t),
	}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.s, e.cancel, e.done = s, cancel, make(chan error, 1)
	go func() { e.done <- s.Serve(ctx, ln) }()
	e.base = "http://" + ln.Addr().String()
	e.client = &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.client.CloseIdleConnections()
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("Serve: %v", err)
	}
	if err := e.s.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	e.cancel = nil
}

// req describes one request; zero values mean: authenticated, JSON.
type req struct {
	method, path string
	body         any // string or []byte are sent raw, anything else as JSON
	header       map[string]string
	noAuth       bool
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) any {
	t.Helper()
	v, err := jsonx.Decode(r.body)
	if err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.body)
	}
	return v
}

func (r resp) obj(t *testing.T) map[string]any {
	t.Helper()
	m, ok := r.json(t).(map[string]any)
	if !ok {
		t.Fatalf("response is not an object: %s", r.body)
	}
	return m
}

func (r resp) list(t *testing.T) []any {
	t.Helper()
	a, ok := r.json(t).([]any)
	if !ok {
		t.Fatalf("response is not an array: %s", r.body)
	}
	return a
}

func (e *env) do(q req) resp {
	e.t.Helper()
	var body io.Reader
	switch b := q.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("marshal: %v", err)
		}
		body = bytes.NewReader(raw)
	}
	r, err := http.NewRequest(q.method, e.base+q.path, body)
	if err != nil {
		e.t.Fatalf("request: %v", err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if !q.noAuth {
		r.SetBasicAuth(testClientID, testSecret)
	}
	for k, v := range q.header {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	res, err := e.client.Do(r)
	if err != nil {
		e.t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: raw}
}

// must does q and fails unless the status is want.
func (e *env) must(want int, q req) resp {
	e.t.Helper()
	r := e.do(q)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", q.method, q.path, r.status, want, r.body)
	}
	return r
}

// fakeDNS answers every A query with 127.0.0.1 from a DNS server on a loopback UDP socket, so
// that routes naming real-looking hosts (as in real Otoroshi exports) resolve without network.
func fakeDNS(t testing.TB) dns.Options { return fakeDNSDeny(t, nil) }

// fakeDNSDeny is fakeDNS answering NXDOMAIN for the names (lower case, without the final dot)
// deny holds.
func fakeDNSDeny(t testing.TB, deny func(name string) bool) dns.Options {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dns listen: %v", err)
	}
	testkit.ServeUDP(t, pc, func(q []byte) []byte { return dnsAnswer(q, deny) })
	return dns.Options{Servers: []string{pc.LocalAddr().String()}, HostsFile: "-", Timeout: 500 * time.Millisecond}
}

// dnsAnswer builds the reply to one query (RFC 1035 4.1): A gets 127.0.0.1, anything else no
// answer.
func dnsAnswer(q []byte, deny func(string) bool) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	out := make([]byte, 12, 64)
	copy(out, q[:2])                            // id
	binary.BigEndian.PutUint16(out[2:], 0x8180) // response, recursion desired+available, no error
	binary.BigEndian.PutUint16(out[4:], 1)      // qdcount
	out = append(out, question...)
	var labels []string
	for j := 12; j < i; j += int(q[j]) + 1 {
		labels = append(labels, strings.ToLower(string(q[j+1:j+1+int(q[j])])))
	}
	if deny != nil && deny(strings.Join(labels, ".")) {
		binary.BigEndian.PutUint16(out[2:], 0x8183) // NXDOMAIN
		return out
	}
	if qtype == 1 {
		binary.BigEndian.PutUint16(out[6:], 1) // ancount
		out = append(out, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1)
	}
	return out
}
