package redisquota

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
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
	// A burst, then more calls: leases held by a node when the burst stopped are spent by the
	// next ones; in all, exactly the quota.
	burst := hammer(nodes, "daily-key", lim, 4500)
	more := hammer(nodes, "daily-key", lim, 600)
	// Never over; under by at most 1% (issue 20: a lease whose grant was lost, or calls a node
	// still held when the burst ended, can strand a few calls; CI under load showed 4 of 2000).
	if burst+more > 3000 || burst+more < 2970 {
		t.Fatalf("daily quota 3000 through 3 nodes: %d calls admitted in the burst, %d after, want 3000 in all (at most 1%% under, never over)", burst, more)
	} else if burst+more != 3000 {
		t.Logf("daily quota 3000: %d admitted (%d under)", burst+more, 3000-burst-more)
	}
	lim = quota.Limits{Throttle: 2000, Daily: quota.Unlimited, Monthly: quota.Unlimited}
	// A window boundary in the middle would make the count legitimately higher: start early
	// in a 10-second window.
	waitWindowStart(t)
	burst = hammer(nodes, "throttled-key", lim, 3000)
	more = hammer(nodes, "throttled-key", lim, 300)
	if burst+more > 2000 || burst+more < 1980 {
		t.Fatalf("throttling quota 2000 per window through 3 nodes: %d admitted in the burst, %d after, want 2000 in all (at most 1%% under, never over)", burst, more)
	} else if burst+more != 2000 {
		t.Logf("throttling quota 2000: %d admitted (%d under)", burst+more, 2000-burst-more)
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

// idleAfterTen starts Redis and one node of two with the given outage policy, admits 10 calls
// of key "k" (daily limit 1000) and waits until the idle key has given its lease back (after a
// second), so that nothing is held when the test then kills Redis.
func idleAfterTen(t *testing.T, policy quota.FailMode) (*testkit.Redis, *node, quota.Limits) {
	t.Helper()
	r := testkit.StartRedis(t)
	n := startNode(t, r.Addr, policy, 2)
	lim := quota.Limits{Throttle: quota.Unlimited, Daily: 1000, Monthly: quota.Unlimited}
	if got := hammer([]*node{n}, "k", lim, 10); got != 10 {
		t.Fatalf("%d of 10 admitted", got)
	}
	testkit.Eventually(t, "the idle lease returned", func() error {
		if h := n.c.GlobalStats().Held; h != 0 {
			return fmt.Errorf("%d calls still held", h)
		}
		return nil
	})
	return r, n, lim
}

func TestLeaseFailOpenAndRecovery(t *testing.T) {
	r, n, lim := idleAfterTen(t, quota.FailOpen)
	r.Kill()
	// Fail open: this node admits up to its share of the day (1000/2 = 500, its first 10
	// included), no more.
	if admitted := hammer([]*node{n}, "k", lim, 800); admitted != 490 {
		t.Fatalf("fail open, share 500, 10 admitted before: %d admitted during the outage, want 490", admitted)
	}
	st := n.c.GlobalStats()
	if st.Up || st.OpenAdmits != 490 {
		t.Fatalf("redis killed: stats %+v, want down with 490 calls admitted open", st)
	}
	r.Restart() // empty: it lost every count
	// The owed calls go with the key's next lease request. Once that lease is returned (idle),
	// Redis counts the calls admitted during the outage, plus any lease granted by a request
	// whose answer was lost in the restart (a lost grant is never spent: under-admission only).
	if a, _ := n.take("k", lim); a {
		t.Fatal("a call beyond the node's local share admitted")
	}
	var counted int64
	testkit.Eventually(t, "the calls admitted while Redis was down reported to it", func() error {
		day := time.Now().UTC().Truncate(24 * time.Hour).UnixMilli()
		out, err := r.Do("GET", fmt.Sprintf("torii:q:{k}:d:%d", day))
		_, v, _ := strings.Cut(out, "\r\n")
		counted, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || counted < int64(st.OpenAdmits) || counted > int64(st.OpenAdmits)+10 || n.c.GlobalStats().Held != 0 {
			return fmt.Errorf("GET answered %q (%v), want %d (+ a lost grant at most); stats %+v", out, err, st.OpenAdmits, n.c.GlobalStats())
		}
		return nil
	})
	// Exact counting resumes: what Redis did not count remains, for a second node (this one
	// is limited by its local count of 500 too).
	// counted may include a lease that was being returned when it was read (seen under CPU
	// load: 491 read, 490 once returned), so the second node's share is bounded by both reads,
	// and Redis itself must end at exactly the quota: never over.
	m := startNode(t, r.Addr, quota.FailOpen, 2)
	got := hammer([]*node{m}, "k", lim, 1000)
	if got > 1000-int64(st.OpenAdmits) || got < 1000-counted {
		t.Fatalf("after recovery a second node got %d, want the %d to %d left", got, 1000-counted, 1000-int64(st.OpenAdmits))
	}
	day := time.Now().UTC().Truncate(24 * time.Hour).UnixMilli()
	out, err := r.Do("GET", fmt.Sprintf("torii:q:{k}:d:%d", day))
	_, v, _ := strings.Cut(out, "\r\n")
	if final, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil || final != 1000 {
		t.Fatalf("after recovery Redis counts %q (%v), want exactly the quota, 1000", out, err)
	}
}

func TestLeaseFailClosed(t *testing.T) {
	r, n, lim := idleAfterTen(t, quota.FailClosed)
	r.Kill()
	// Fail closed: no lease held, nothing admitted.
	if got := hammer([]*node{n}, "k", lim, 300); got != 0 {
		t.Fatalf("fail closed, no lease held: %d admitted, want 0", got)
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
		// Settle: calls one at a time on each node until each refused ten in a row, so that
		// the leases a node held when the burst stopped are spent.
		for i := range nodes {
			for refused := 0; refused < 10; {
				a, retry := take(i)
				for n := 0; retry == quota.Pending && n < maxParks; n++ {
					woke := make(chan struct{})
					wait(i, func() { close(woke) })
					<-woke
					a, retry = take(i)
				}
				if a {
					ok.Add(1)
					refused = 0
				} else {
					refused++
				}
			}
		}
		return ok.Load()
	}
	// 40 calls per second: 400 per 10-second window, whatever node serves them.
	if got := count(func(i int) (bool, time.Duration) { return gw[i].Take(40, time.Now()) },
		func(i int, wake func()) { nodes[i].c.Wait(quota.GatewayKey, wake) }); got != 400 {
		t.Fatalf("gateway throttle of 400 per window through 3 nodes: %d admitted", got)
	}
	if got := count(func(i int) (bool, time.Duration) { return per[i].Take(addr, 30, time.Now()) },
		func(i int, wake func()) { per[i].Wait(addr, wake) }); got != 300 {
		t.Fatalf("per-IP throttle of 300 per window through 3 nodes: %d admitted", got)
	}
}

// TestLeaseReturnedAtWindowEnd: a busy key whose 10-second window ends gives the unspent calls
// of its lease back to the day's counter at once (not after a second idle). Long: it waits for
// a window to end (TORII_CLUSTER_LONG=1, make test-cluster).
func TestLeaseReturnedAtWindowEnd(t *testing.T) {
	if os.Getenv("TORII_CLUSTER_LONG") == "" {
		t.Skip("long: run with TORII_CLUSTER_LONG=1 (make test-cluster)")
	}
	r := testkit.StartRedis(t)
	n := startNode(t, r.Addr, quota.FailOpen, 1)
	lim := quota.Limits{Throttle: 100000, Daily: 100000, Monthly: quota.Unlimited}
	waitWindowStart(t)
	win := time.Now().UnixNano() / int64(quota.ThrottleWindow)
	admitted := hammer([]*node{n}, "k", lim, 2000) // the lease grows past what is spent
	if n.c.GlobalStats().Held == 0 {
		t.Fatal("no lease held after a burst")
	}
	// Stay busy (a call every 100 ms, so no idle return) until the window ends.
	for time.Now().UnixNano()/int64(quota.ThrottleWindow) == win {
		if a, _ := n.take("k", lim); a {
			admitted++
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a, _ := n.take("k", lim); a {
		admitted++
	}
	day := time.Now().UTC().Truncate(24 * time.Hour).UnixMilli()
	testkit.Eventually(t, "the old window's unspent calls back in the day's count", func() error {
		out, err := r.Do("GET", fmt.Sprintf("torii:q:{k}:d:%d", day))
		_, v, _ := strings.Cut(out, "\r\n")
		counted, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if want := admitted + n.c.GlobalStats().Held; err != nil || counted != want {
			return fmt.Errorf("day counter %d (%v), want %d admitted + %d held", counted, err, admitted, n.c.GlobalStats().Held)
		}
		return nil
	})
}
