package redisquota

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/internal/testkit"
)

// node is one simulated worker: its own counters and lease goroutine over the shared Redis.
type node struct {
	c      *quota.Counters
	src    *Source
	cancel context.CancelFunc
	done   chan struct{}
}

func startNode(t *testing.T, addr string, fail quota.FailMode, nodes int) *node {
	t.Helper()
	src, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	c := quota.New(quota.Options{})
	c.EnableGlobal(src, quota.GlobalOptions{Fail: fail, Nodes: func() int { return nodes }})
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{c: c, src: src, cancel: cancel, done: make(chan struct{})}
	go func() { c.RunGlobal(ctx); close(n.done) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
	n.src.Close()
}

// take is what the proxy does: take, and when Pending, wait off the loop and take again, at
// most maxParks times.
func (n *node) take(id string, lim quota.Limits) (ok bool, retry time.Duration) {
	for range maxParks + 1 {
		ok, _, retry = n.c.Take(id, lim, time.Now())
		if retry != quota.Pending {
			return ok, retry
		}
		woke := make(chan struct{})
		n.c.Wait(id, func() { close(woke) })
		select {
		case <-woke:
		case <-time.After(5 * time.Second):
			panic("a parked call was never woken")
		}
	}
	return false, time.Second // parked too often: refused, as the proxy does
}

// maxParks is core's bound on the parkings of one request (core/park.go).
const maxParks = 16

// hammer sends calls of id through every node from several goroutines each until total calls
// were made, and returns how many were admitted.
func hammer(nodes []*node, id string, lim quota.Limits, total int) (admitted int64) {
	var wg sync.WaitGroup
	var made, ok atomic.Int64
	for _, n := range nodes {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for made.Add(1) <= int64(total) {
					if a, _ := n.take(id, lim); a {
						ok.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	return ok.Load()
}

func TestLeaseNeverOverAdmits(t *testing.T) {
	r := testkit.StartRedis(t)
	nodes := []*node{startNode(t, r.Addr, quota.FailOpen, 3), startNode(t, r.Addr, quota.FailOpen, 3), startNode(t, r.Addr, quota.FailOpen, 3)}
	lim := quota.Limits{Throttle: quota.Unlimited, Daily: 3000, Monthly: quota.Unlimited}
	if got := hammer(nodes, "daily-key", lim, 4500); got != 3000 {
		t.Fatalf("daily quota 3000 through 3 nodes: %d calls admitted, want exactly 3000", got)
	}
	// Nothing more, however long we insist.
	if got := hammer(nodes, "daily-key", lim, 600); got != 0 {
		t.Fatalf("after the quota: %d more calls admitted", got)
	}
	lim = quota.Limits{Throttle: 2000, Daily: quota.Unlimited, Monthly: quota.Unlimited}
	// A window boundary in the middle would make the count legitimately higher: start early
	// in a 10-second window.
	waitWindowStart(t)
	if got := hammer(nodes, "throttled-key", lim, 3000); got != 2000 {
		t.Fatalf("throttling quota 2000 per window through 3 nodes: %d admitted, want exactly 2000", got)
	}
}

// waitWindowStart waits until the current throttling window has at least 7 s left.
func waitWindowStart(t *testing.T) {
	t.Helper()
	w := int64(quota.ThrottleWindow)
	if left := w - time.Now().UnixNano()%w; left < int64(7*time.Second) {
		time.Sleep(time.Duration(left) + 50*time.Millisecond)
	}
}

func TestLeaseReturnedWhenIdleAndAtShutdown(t *testing.T) {
	r := testkit.StartRedis(t)
	a := startNode(t, r.Addr, quota.FailOpen, 2)
	b := startNode(t, r.Addr, quota.FailOpen, 2)
	lim := quota.Limits{Throttle: quota.Unlimited, Daily: 1000, Monthly: quota.Unlimited}
	// A burst on a, which sizes its leases up, then silence: a gives back what it did not spend.
	if got := hammer([]*node{a}, "k", lim, 300); got != 300 {
		t.Fatalf("a: %d admitted of 300", got)
	}
	a.stop() // shutdown returns the unspent leases at once
	if got := hammer([]*node{b}, "k", lim, 1000); got != 700 {
		t.Fatalf("b after a's shutdown: %d admitted, want the 700 left", got)
	}
}

func TestLeaseFailOpenAndRecovery(t *testing.T) {
	r := testkit.StartRedis(t)
	n := startNode(t, r.Addr, quota.FailOpen, 2)
	lim := quota.Limits{Throttle: quota.Unlimited, Daily: 1000, Monthly: quota.Unlimited}
	if got := hammer([]*node{n}, "k", lim, 10); got != 10 {
		t.Fatalf("%d of 10 admitted", got)
	}
	held := n.c.GlobalStats().Held
	r.Kill()
	// Fail open: this node spends the leases it holds, then admits up to its share of the day
	// (1000/2 = 500, its first 10 included), no more.
	admitted := hammer([]*node{n}, "k", lim, 800)
	if total := 10 + admitted; total < 500 || total > 500+held {
		t.Fatalf("fail open, share 500, %d leased calls held at the kill: %d admitted in all", held, total)
	}
	st := n.c.GlobalStats()
	if st.Up || st.OpenAdmits == 0 {
		t.Fatalf("redis killed: stats %+v, want down with calls admitted open", st)
	}
	r.Restart() // empty: it lost every count
	testkit.Eventually(t, "the calls admitted while Redis was down reported to it", func() error {
		day := time.Now().UTC().Truncate(24 * time.Hour).UnixMilli()
		out, err := r.Do("GET", fmt.Sprintf("torii:q:{k}:d:%d", day))
		want := fmt.Sprintf("$%d\r\n%d\r\n", len(fmt.Sprint(st.OpenAdmits)), st.OpenAdmits)
		if err != nil || out != want {
			return fmt.Errorf("GET answered %q (%v), want %q; stats %+v", out, err, want, n.c.GlobalStats())
		}
		return nil
	})
	// Exact counting resumes: 1000 - OpenAdmits remain cluster-wide; this node, having counted
	// 500 locally, is limited by its local count too, so a second node takes the rest.
	m := startNode(t, r.Addr, quota.FailOpen, 2)
	if got := hammer([]*node{m}, "k", lim, 1000); got != 1000-int64(st.OpenAdmits) {
		t.Fatalf("after recovery a second node got %d, want the %d left", got, 1000-int64(st.OpenAdmits))
	}
}

func TestLeaseFailClosed(t *testing.T) {
	r := testkit.StartRedis(t)
	n := startNode(t, r.Addr, quota.FailClosed, 2)
	lim := quota.Limits{Throttle: quota.Unlimited, Daily: 1000, Monthly: quota.Unlimited}
	if got := hammer([]*node{n}, "k", lim, 10); got != 10 {
		t.Fatalf("%d of 10 admitted", got)
	}
	held := n.c.GlobalStats().Held
	r.Kill()
	// Fail closed: only the leases held at the kill are spent; everything else is refused.
	if got := hammer([]*node{n}, "k", lim, 300); got != held {
		t.Fatalf("fail closed with %d leased calls held: %d admitted, want exactly those", held, got)
	}
	if st := n.c.GlobalStats(); st.OpenAdmits != 0 || st.Up {
		t.Fatalf("stats %+v", st)
	}
	r.Restart()
	testkit.Eventually(t, "counting again once Redis is back", func() error {
		if a, _ := n.take("k", lim); !a {
			return fmt.Errorf("refused; stats %+v", n.c.GlobalStats())
		}
		return nil
	})
}

// TestGatewayAndPerIPThrottlesAreGlobal: with UseGlobal, quota.Gateway and quota.PerIP count
// through the nodes' leases: exactly their throttle for the whole cluster.
func TestGatewayAndPerIPThrottlesAreGlobal(t *testing.T) {
	r := testkit.StartRedis(t)
	nodes := []*node{startNode(t, r.Addr, quota.FailOpen, 3), startNode(t, r.Addr, quota.FailOpen, 3), startNode(t, r.Addr, quota.FailOpen, 3)}
	waitWindowStart(t)
	addr := netip.MustParseAddr("192.0.2.7")
	var gw [3]quota.Gateway
	var per [3]quota.PerIP
	for i, n := range nodes {
		gw[i].UseGlobal(n.c)
		per[i].UseGlobal(n.c)
	}
	count := func(take func(i int) (bool, time.Duration), wait func(i int, wake func())) int64 {
		var ok atomic.Int64
		var wg sync.WaitGroup
		var made atomic.Int64
		for i := range nodes {
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for made.Add(1) <= 600 {
						for range maxParks + 1 {
							a, retry := take(i)
							if retry != quota.Pending {
								if a {
									ok.Add(1)
								}
								break
							}
							woke := make(chan struct{})
							wait(i, func() { close(woke) })
							<-woke
						}
					}
				}()
			}
		}
		wg.Wait()
		return ok.Load()
	}
	// 40 calls per second: 400 per 10-second window, whatever node serves them.
	if got := count(func(i int) (bool, time.Duration) { return gw[i].Take(40, time.Now()) },
		func(i int, wake func()) { nodes[i].c.Wait(quota.GatewayKey, wake) }); got != 400 {
		t.Fatalf("gateway throttle of 400 per window through 3 nodes: %d admitted", got)
	}
	if got := count(func(i int) (bool, time.Duration) { return per[i].Take(addr, 30, time.Now()) },
		func(i int, wake func()) { nodes[i].c.Wait(quota.IPKey(addr), wake) }); got != 300 {
		t.Fatalf("per-IP throttle of 300 per window through 3 nodes: %d admitted", got)
	}
}
