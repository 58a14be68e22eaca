package route

import (
	"fmt"
	"hash/fnv"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// lbRoute returns one route on h.com with the given load balancing JSON and targets
// (port:weight, a "b" suffix marks a backup).
func lbRoute(lb string, targets ...string) string {
	var ts []string
	for i, tg := range targets {
		var port, weight int
		backup := strings.HasSuffix(tg, "b")
		fmt.Sscanf(strings.TrimSuffix(tg, "b"), "%d:%d", &port, &weight)
		ts = append(ts, fmt.Sprintf(`{"id":"t%d","hostname":"127.0.0.1","port":%d,"weight":%d,"backup":%v}`, i, port, weight, backup))
	}
	return fmt.Sprintf(`[{"id":"r","frontend":{"domains":["h.com"]},"backend":{"load_balancing":%s,"targets":[%s]}}]`, lb, strings.Join(ts, ","))
}

func compileLB(t *testing.T, lb string, targets ...string) *Compiled {
	t.Helper()
	tab := mustCompile(t, lbRoute(lb, targets...), CompileOptions{Seed: 42, Registry: NewRegistry()})
	return tab.Route("r")
}

// counts picks n times with in and returns how often each target index was chosen.
func counts(t *testing.T, c *Compiled, n int, in func(i int) *PickInput) []int {
	t.Helper()
	out := make([]int, len(c.Upstreams()))
	for i := range n {
		u, idx := c.Pick(in(i))
		if u == nil {
			t.Fatalf("pick %d: no target", i)
		}
		if &c.Upstreams()[idx] != u {
			t.Fatalf("pick %d: index %d does not designate the returned upstream", i, idx)
		}
		out[idx]++
	}
	return out
}

func noInput(int) *PickInput { return nil }

// near fails unless got/n is within tol of want.
func near(t *testing.T, what string, got, n int, want, tol float64) {
	t.Helper()
	if share := float64(got) / float64(n); math.Abs(share-want) > tol {
		t.Fatalf("%s: share %.3f, want %.3f ± %.3f", what, share, want, tol)
	}
}

func TestRoundRobinSmoothWeights(t *testing.T) {
	c := compileLB(t, `{"type":"RoundRobin"}`, "1:5", "2:1", "3:1")
	var got []int
	for range 14 {
		_, i := c.Pick(nil)
		got = append(got, i)
	}
	// nginx's smooth weighted round-robin for weights 5,1,1: a a b a c a a, twice.
	want := []int{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sequence %v, want %v", got, want)
	}
}

func TestRoundRobinPerRoute(t *testing.T) {
	tab := mustCompile(t, `[
	 {"id":"a","frontend":{"domains":["a.com"]},"backend":{"targets":[{"id":"x","hostname":"127.0.0.1","port":1},{"id":"y","hostname":"127.0.0.1","port":2}]}},
	 {"id":"b","frontend":{"domains":["b.com"]},"backend":{"targets":[{"id":"x","hostname":"127.0.0.1","port":1},{"id":"y","hostname":"127.0.0.1","port":2}]}}]`, CompileOptions{})
	a, b := tab.Route("a"), tab.Route("b")
	_, i1 := a.Pick(nil)
	_, j1 := b.Pick(nil)
	_, i2 := a.Pick(nil)
	_, j2 := b.Pick(nil)
	if i1 != 0 || i2 != 1 || j1 != 0 || j2 != 1 {
		t.Fatalf("route a picked %d,%d and route b %d,%d; want 0,1 for each", i1, i2, j1, j2)
	}
}

func TestZeroWeightNeverPicked(t *testing.T) {
	c := compileLB(t, `{"type":"RoundRobin"}`, "1:0", "2:2")
	if n := counts(t, c, 100, noInput); n[0] != 0 {
		t.Fatalf("weight-0 target picked %d times", n[0])
	}
}

func TestBackupOnlyWhenPrimariesDown(t *testing.T) {
	c := compileLB(t, `{"type":"RoundRobin"}`, "1:1", "2:1", "3:1b")
	if n := counts(t, c, 50, noInput); n[2] != 0 {
		t.Fatalf("backup used while primaries are up: %v", n)
	}
	ups := c.Upstreams()
	ups[0].state.setHealthy(false, "test")
	if n := counts(t, c, 50, noInput); n[0] != 0 || n[2] != 0 || n[1] != 50 {
		t.Fatalf("with target 0 down: %v, want all on target 1", n)
	}
	ups[1].state.setHealthy(false, "test")
	if n := counts(t, c, 10, noInput); n[2] != 10 {
		t.Fatalf("with all primaries down: %v, want all on the backup", n)
	}
	ups[2].state.setHealthy(false, "test")
	if u, i := c.Pick(nil); u != nil || i != -1 {
		t.Fatalf("all targets down: picked %d, want nil", i)
	}
}

func TestPickSkipsTried(t *testing.T) {
	c := compileLB(t, `{"type":"RoundRobin"}`, "1:1", "2:1", "3:1b")
	for range 10 {
		if _, i := c.Pick(&PickInput{Tried: 1}); i != 1 {
			t.Fatalf("Tried=0b1: picked %d, want 1", i)
		}
	}
	if _, i := c.Pick(&PickInput{Tried: 0b11}); i != 2 {
		t.Fatalf("Tried=0b11: picked %d, want the backup 2", i)
	}
	if u, _ := c.Pick(&PickInput{Tried: 0b111}); u != nil {
		t.Fatalf("every target tried: want nil")
	}
}

func TestRandomDistribution(t *testing.T) {
	c := compileLB(t, `{"type":"Random"}`, "1:1", "2:3")
	const n = 40000
	got := counts(t, c, n, noInput)
	near(t, "weight 1 of 4", got[0], n, 0.25, 0.01)
	near(t, "weight 3 of 4", got[1], n, 0.75, 0.01)

	// The same seed gives the same sequence.
	c1, c2 := compileLB(t, `{"type":"Random"}`, "1:1", "2:1", "3:1"), compileLB(t, `{"type":"Random"}`, "1:1", "2:1", "3:1")
	for k := range 100 {
		_, a := c1.Pick(nil)
		_, b := c2.Pick(nil)
		if a != b {
			t.Fatalf("pick %d differs between two tables with the same seed: %d vs %d", k, a, b)
		}
	}
}

func TestHashBalancing(t *testing.T) {
	type tc struct {
		lb  string
		req func(key string) *PickInput
	}
	cases := []tc{
		{`{"type":"IpAddressHash"}`, func(k string) *PickInput {
			h := fnv.New32a()
			h.Write([]byte(k))
			v := h.Sum32()
			return &PickInput{ClientIP: netip.AddrFrom4([4]byte{10, byte(v >> 16), byte(v >> 8), byte(v)})}
		}},
		{`{"type":"Sticky"}`, func(k string) *PickInput {
			req, buf := request("GET", "h.com", "/", "Cookie: a=1; otoroshi-tracking="+k+"; z=2")
			return &PickInput{Req: req, Buf: buf}
		}},
		{`{"type":"HeaderHash","header_name":"X-User"}`, func(k string) *PickInput {
			req, buf := request("GET", "h.com", "/", "x-user: "+k)
			return &PickInput{Req: req, Buf: buf}
		}},
		{`{"type":"CookieHash","cookie_name":"sid"}`, func(k string) *PickInput {
			req, buf := request("GET", "h.com", "/", "Cookie: sid="+k)
			return &PickInput{Req: req, Buf: buf}
		}},
		{`{"type":"QueryHash","query_name":"user"}`, func(k string) *PickInput {
			req, buf := request("GET", "h.com", "/?a=b&user="+k)
			return &PickInput{Req: req, Buf: buf}
		}},
	}
	for _, k := range cases {
		t.Run(k.lb, func(t *testing.T) {
			c := compileLB(t, k.lb, "1:1", "2:1", "3:2")
			// Same key, same target, whatever the round-robin position.
			first := -1
			for range 20 {
				_, i := c.Pick(k.req("user-42"))
				if first < 0 {
					first = i
				} else if i != first {
					t.Fatalf("key user-42 went to %d then %d", first, i)
				}
			}
			// Many keys spread according to the weights.
			const n = 8000
			got := counts(t, c, n, func(i int) *PickInput { return k.req(fmt.Sprintf("user-%d", i)) })
			near(t, "weight 1", got[0], n, 0.25, 0.05)
			near(t, "weight 2", got[2], n, 0.50, 0.05)
		})
	}
}

func TestStickyTracking(t *testing.T) {
	c := compileLB(t, `{"type":"Sticky"}`, "1:1", "2:1", "3:1")
	bare, bareBuf := request("GET", "h.com", "/")
	if !c.NeedsTracking(bare, bareBuf) {
		t.Fatalf("a request without the cookie needs a tracking id")
	}
	// The first request picks with the id the engine is about to set; later requests
	// carry it in the cookie and land on the same target.
	_, first := c.Pick(&PickInput{Req: bare, Buf: bareBuf, Tracking: []byte("id-123")})
	with, withBuf := request("GET", "h.com", "/", "Cookie: otoroshi-tracking=id-123")
	if c.NeedsTracking(with, withBuf) {
		t.Fatalf("a request with the cookie needs no tracking id")
	}
	for range 10 {
		if _, i := c.Pick(&PickInput{Req: with, Buf: withBuf}); i != first {
			t.Fatalf("cookie request went to %d, the first request to %d", i, first)
		}
	}
	if compileLB(t, `{"type":"RoundRobin"}`, "1:1").NeedsTracking(bare, bareBuf) {
		t.Fatalf("only Sticky needs tracking")
	}
}

func TestHashBalancingFallsBackToRoundRobin(t *testing.T) {
	c := compileLB(t, `{"type":"HeaderHash","header_name":"X-User"}`, "1:1", "2:1")
	req, buf := request("GET", "h.com", "/")
	got := counts(t, c, 10, func(int) *PickInput { return &PickInput{Req: req, Buf: buf} })
	if got[0] != 5 || got[1] != 5 {
		t.Fatalf("without the header: %v, want round-robin 5/5", got)
	}
}

func TestBestResponseTime(t *testing.T) {
	c := compileLB(t, `{"type":"BestResponseTime"}`, "1:1", "2:1", "3:1")
	ups := c.Upstreams()
	// Unmeasured targets are tried first, in order.
	for want := range 3 {
		u, i := c.Pick(nil)
		if i != want {
			t.Fatalf("unmeasured phase: picked %d, want %d", i, want)
		}
		c.Report(u, true, time.Duration(30-10*i)*time.Millisecond) // 30, 20, 10 ms
	}
	if n := counts(t, c, 20, noInput); n[2] != 20 {
		t.Fatalf("picks %v, want all on the fastest target 2", n)
	}
	for range 20 {
		c.Report(&ups[2], true, 100*time.Millisecond) // target 2 slows down
	}
	if _, i := c.Pick(nil); i != 1 {
		t.Fatalf("after target 2 slowed down: picked %d, want 1", i)
	}
	if l := ups[2].State().Latency(); l < 80*time.Millisecond || l > 100*time.Millisecond {
		t.Fatalf("EWMA after 20 samples of 100 ms from 10 ms: %s", l)
	}
}

func TestWeightedBestResponseTime(t *testing.T) {
	c := compileLB(t, `{"type":"WeightedBestResponseTime","ratio":0.8}`, "1:1", "2:1")
	ups := c.Upstreams()
	c.Report(&ups[0], true, 50*time.Millisecond)
	c.Report(&ups[1], true, 5*time.Millisecond)
	const n = 20000
	got := counts(t, c, n, noInput)
	// 80 % to the best, the other 20 % round-robin over both.
	near(t, "best target", got[1], n, 0.9, 0.02)
}

func TestLeastConnections(t *testing.T) {
	c := compileLB(t, `{"type":"LeastConnections"}`, "1:1", "2:1", "3:2")
	ups := c.Upstreams()
	// Idle: ties are spread.
	if got := counts(t, c, 300, noInput); got[0] < 50 || got[1] < 50 || got[2] < 50 {
		t.Fatalf("idle picks %v, want ties spread", got)
	}
	ups[0].Acquire()
	ups[1].Acquire()
	ups[2].Acquire()
	ups[2].Acquire()
	ups[2].Acquire() // target 2 has weight 2: 3/2 in flight per weight unit, more than 1/1
	for range 10 {
		if _, i := c.Pick(nil); i == 2 {
			t.Fatalf("picked the busiest target per weight")
		}
	}
	ups[2].Release()
	ups[2].Release() // 1/2 per unit: now the least loaded
	for range 10 {
		if _, i := c.Pick(nil); i != 2 {
			t.Fatalf("picked %d, want the least loaded target 2", i)
		}
	}
	if got := ups[2].State().InFlight(); got != 1 {
		t.Fatalf("in flight = %d, want 1", got)
	}
}

func TestPowerOfTwoRandomChoices(t *testing.T) {
	c := compileLB(t, `{"type":"PowerOfTwoRandomChoices"}`, "1:1", "2:1", "3:1")
	ups := c.Upstreams()
	for range 100 {
		ups[0].Acquire()
	}
	const n = 9000
	got := counts(t, c, n, noInput)
	if got[0] != 0 {
		t.Fatalf("the busy target was picked %d times; two distinct draws always include an idle one", got[0])
	}
	near(t, "idle target 1", got[1], n, 0.5, 0.03)

	// With equal loads every target gets about a third.
	c2 := compileLB(t, `{"type":"PowerOfTwoRandomChoices"}`, "1:1", "2:1", "3:1")
	got = counts(t, c2, n, noInput)
	for i := range got {
		near(t, fmt.Sprintf("target %d", i), got[i], n, 1.0/3, 0.03)
	}
}

func TestNaiveFailover(t *testing.T) {
	c := compileLB(t, `{"type":"NaiveFailover"}`, "1:1", "2:1")
	if got := counts(t, c, 10, noInput); got[0] != 10 {
		t.Fatalf("picks %v, want all on the first target", got)
	}
	c.Upstreams()[0].state.setHealthy(false, "test")
	if _, i := c.Pick(nil); i != 1 {
		t.Fatalf("first target down: picked %d, want 1", i)
	}
}

func TestUnknownBalancingIsRoundRobin(t *testing.T) {
	tab := mustCompile(t, lbRoute(`{"type":"Fancy"}`, "1:1", "2:1"), CompileOptions{})
	c := tab.Route("r")
	if c.Balancing() != RoundRobin {
		t.Fatalf("balancing %s, want RoundRobin", c.Balancing())
	}
	if w := tab.Warnings(); len(w) != 1 || w[0].Field != "backend.load_balancing.type" {
		t.Fatalf("warnings %v, want one about load_balancing.type", w)
	}
	if got := counts(t, c, 10, noInput); got[0] != 5 {
		t.Fatalf("picks %v, want round-robin", got)
	}
}

func TestSmoothSequenceScalesLargeWeights(t *testing.T) {
	c := compileLB(t, `{"type":"RoundRobin"}`, "1:100000", "2:1")
	if n := len(c.pool.seq); n > maxSequence+1 {
		t.Fatalf("sequence length %d exceeds the cap", n)
	}
	if got := counts(t, c, 5000, noInput); got[1] == 0 || got[1] > 5 {
		t.Fatalf("picks %v: the weight-1 target should appear about once per cycle", got)
	}
}
