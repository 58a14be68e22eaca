package dns

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/torii-gateway/torii/internal/testkit"
)

// fakeServer is a DNS server on a loopback UDP socket (and TCP on the same port, for truncated
// answers) answering from a table that tests change while it runs.
type fakeServer struct {
	addr    string
	mu      sync.Mutex
	records map[string]fakeRecord // absolute lower-case name
	queries atomic.Int32
	silent  atomic.Bool // drop every query (a dead server)
}

type fakeRecord struct {
	addrs []netip.Addr
	ttl   uint32
	many  bool // answer with enough records to truncate the UDP answer
}

func startServer(t *testing.T) *fakeServer {
	t.Helper()
	// UDP and TCP on one port: retry when another process holds the TCP side.
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ln == nil; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if try == 50 {
				t.Fatal(err)
			}
		}
	}
	s := &fakeServer{addr: pc.LocalAddr().String(), records: map[string]fakeRecord{}}
	t.Cleanup(func() { ln.Close() })
	testkit.ServeUDP(t, pc, func(q []byte) []byte { return s.answer(q, true) })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			var l [2]byte
			if _, err := conn.Read(l[:]); err == nil {
				q := make([]byte, int(l[0])<<8|int(l[1]))
				if _, err := conn.Read(q); err == nil {
					resp := s.answer(q, false)
					_, _ = conn.Write(append([]byte{byte(len(resp) >> 8), byte(len(resp))}, resp...))
				}
			}
			conn.Close()
		}
	}()
	return s
}

func (s *fakeServer) set(name string, ttl uint32, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addrs == nil {
		delete(s.records, name)
		return
	}
	r := fakeRecord{ttl: ttl}
	for _, a := range addrs {
		r.addrs = append(r.addrs, netip.MustParseAddr(a))
	}
	s.records[name] = r
}

func (s *fakeServer) answer(q []byte, udp bool) []byte {
	if s.silent.Load() {
		return nil
	}
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	question, err := p.Question()
	if err != nil {
		return nil
	}
	s.queries.Add(1)
	s.mu.Lock()
	rec, ok := s.records[question.Name.String()]
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: true, RecursionAvailable: true}
	if !ok {
		rh.RCode = dnsmessage.RCodeNameError
	}
	if rec.many && udp {
		rh.Truncated = true
	}
	b := dnsmessage.NewBuilder(nil, rh)
	_ = b.StartQuestions()
	_ = b.Question(question)
	_ = b.StartAnswers()
	if !rh.Truncated {
		for _, a := range rec.addrs {
			hdr := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: rec.ttl}
			switch {
			case a.Is4() && question.Type == dnsmessage.TypeA:
				_ = b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
			case a.Is6() && question.Type == dnsmessage.TypeAAAA:
				_ = b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
			}
		}
	}
	out, _ := b.Finish()
	return out
}

func newTestCache(t *testing.T, s *fakeServer, changes *atomic.Int32, search ...string) *Cache {
	t.Helper()
	c := New(Options{Servers: []string{s.addr}, Search: search, NDots: 1, HostsFile: "-",
		MinTTL: 50 * time.Millisecond, MaxTTL: 400 * time.Millisecond, Timeout: 100 * time.Millisecond,
		OnChange: func() { changes.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestCacheResolvesAndFollowsChanges: a watched name resolves in the background, an address
// change is seen after the TTL and reported through OnChange; NXDOMAIN makes it unresolved, and
// a name that appears later resolves at the next attempt (the floor).
func TestCacheResolvesAndFollowsChanges(t *testing.T) {
	s := startServer(t)
	s.set("api.backend.lol.", 0, "10.0.0.1", "10.0.0.2")
	var changes atomic.Int32
	c := newTestCache(t, s, &changes)
	c.Watch([]string{"API.backend.lol.", "later.internal"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Wait(ctx, []string{"api.backend.lol", "later.internal"})
	if a, ok := c.Lookup("api.backend.lol"); !ok || a.String() != "10.0.0.1" {
		t.Fatalf("lookup %v %v", a, ok)
	}
	if _, ok := c.Lookup("later.internal"); ok {
		t.Fatal("an unknown name resolved")
	}
	if st, _ := c.Status("later.internal"); !st.Tried || st.Err == "" {
		t.Fatalf("status of an unknown name %+v", st)
	}
	// Round-robin reordering keeps the address in use; a removal moves to the other one.
	s.set("api.backend.lol.", 0, "10.0.0.2", "10.0.0.1")
	time.Sleep(150 * time.Millisecond)
	if a, _ := c.Lookup("api.backend.lol"); a.String() != "10.0.0.1" {
		t.Fatalf("reordering changed the address to %v", a)
	}
	before := changes.Load()
	s.set("api.backend.lol.", 0, "10.0.0.2")
	eventually(t, "the new address", func() bool { a, _ := c.Lookup("api.backend.lol"); return a.String() == "10.0.0.2" })
	eventually(t, "OnChange", func() bool { return changes.Load() > before })
	s.set("later.internal.", 1, "10.0.0.9")
	eventually(t, "a name that appeared", func() bool { _, ok := c.Lookup("later.internal"); return ok })
	s.set("api.backend.lol.", 0)
	eventually(t, "NXDOMAIN to unresolve", func() bool { _, ok := c.Lookup("api.backend.lol"); return !ok })
	if st := c.Stats(); st.Watched != 2 || st.Unresolved != 1 || st.Failures == 0 {
		t.Errorf("stats %+v", st)
	}
	c.Watch([]string{"later.internal"})
	if _, ok := c.Status("api.backend.lol"); ok {
		t.Error("a name no longer watched is kept")
	}
}

// TestCacheHonoursTTL: a long TTL is not asked again before it runs out (capped by the ceiling),
// a zero TTL is asked again no sooner than the floor.
func TestCacheHonoursTTL(t *testing.T) {
	s := startServer(t)
	s.set("long.internal.", 3600, "10.0.0.1")
	var changes atomic.Int32
	c := newTestCache(t, s, &changes)
	c.Watch([]string{"long.internal"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Wait(ctx, []string{"long.internal"})
	st, _ := c.Status("long.internal")
	if ttl := st.Next.Sub(st.Resolved); ttl < 350*time.Millisecond || ttl > 450*time.Millisecond {
		t.Fatalf("3600 s TTL refreshed after %v, want the 400 ms ceiling", ttl)
	}
	s.set("zero.internal.", 0, "10.0.0.2")
	c.Watch([]string{"long.internal", "zero.internal"})
	c.Wait(ctx, []string{"zero.internal"})
	st, _ = c.Status("zero.internal")
	if ttl := st.Next.Sub(st.Resolved); ttl < 45*time.Millisecond || ttl > 100*time.Millisecond {
		t.Fatalf("0 s TTL refreshed after %v, want the 50 ms floor", ttl)
	}
	// Over 300 ms the zero-TTL name is asked at most every 50 ms (A and AAAA each).
	q0 := s.queries.Load()
	time.Sleep(300 * time.Millisecond)
	if n := s.queries.Load() - q0; n > 2*(300/50+1)+2 {
		t.Errorf("%d queries in 300 ms with a 50 ms floor", n)
	}
}

// TestCacheSearchTruncationStale: a short name is found through the search list; a truncated
// UDP answer is asked again over TCP; a server that stops answering keeps the last address.
func TestCacheSearchTruncationStale(t *testing.T) {
	s := startServer(t)
	s.set("service.ns.svc.cluster.local.", 30, "10.1.0.1")
	s.mu.Lock()
	s.records["big.internal."] = fakeRecord{addrs: []netip.Addr{netip.MustParseAddr("10.2.0.1")}, ttl: 30, many: true}
	s.mu.Unlock()
	var changes atomic.Int32
	c := newTestCache(t, s, &changes, "ns.svc.cluster.local", "svc.cluster.local")
	c.Watch([]string{"service", "big.internal"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Wait(ctx, []string{"service", "big.internal"})
	if a, ok := c.Lookup("service"); !ok || a.String() != "10.1.0.1" {
		t.Fatalf("search list: %v %v", a, ok)
	}
	if a, ok := c.Lookup("big.internal"); !ok || a.String() != "10.2.0.1" {
		t.Fatalf("truncated answer: %v %v", a, ok)
	}
	s.silent.Store(true)
	s.set("zero.internal.", 0, "10.3.0.1")
	c.Watch([]string{"service", "big.internal", "zero.internal"})
	c.Wait(ctx, []string{"zero.internal"})
	if a, ok := c.Lookup("service"); !ok || a.String() != "10.1.0.1" {
		t.Fatalf("a dead server dropped the last good address: %v %v", a, ok)
	}
}

// TestHostsAndResolvConf: /etc/hosts answers before DNS; resolv.conf gives servers, search and
// ndots.
func TestHostsAndResolvConf(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("# comment\n10.9.9.9 Pinned.Internal other # trailing\nbad line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	c := New(Options{Servers: []string{s.addr}, HostsFile: hosts, MinTTL: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	c.Watch([]string{"pinned.internal"})
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	c.Wait(wctx, []string{"pinned.internal"})
	if a, ok := c.Lookup("pinned.internal"); !ok || a.String() != "10.9.9.9" || s.queries.Load() != 0 {
		t.Fatalf("hosts file: %v %v (%d DNS queries)", a, ok, s.queries.Load())
	}

	rc := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(rc, []byte("nameserver 10.255.255.53\nnameserver ::1\nsearch a.example B.example.\noptions ndots:2 timeout:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := readResolvConf(rc)
	if len(conf.servers) != 2 || conf.servers[0] != "10.255.255.53:53" || conf.servers[1] != "[::1]:53" || conf.ndots != 2 ||
		len(conf.search) != 2 || conf.search[1] != "b.example" {
		t.Fatalf("resolv.conf %+v", conf)
	}
	f := func(name string, ndots int, want ...string) {
		t.Helper()
		got := candidates(name, []string{"a.example"}, ndots)
		if len(got) != len(want) {
			t.Fatalf("candidates(%q, %d) = %v, want %v", name, ndots, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("candidates(%q, %d) = %v, want %v", name, ndots, got, want)
			}
		}
	}
	f("service", 1, "service.a.example.", "service.")
	f("api.backend.lol", 1, "api.backend.lol.", "api.backend.lol.a.example.")
	f("api.backend", 2, "api.backend.a.example.", "api.backend.")
	f("abs.", 1, "abs.")
}
