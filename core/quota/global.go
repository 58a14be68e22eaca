package quota

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Pending is the retryAfter that TakeSlot returns, with ok false, for a call of a key whose
// global lease is being fetched: the call was not counted. The caller parks the request off the
// event loop with Wait and takes again when woken.
const Pending time.Duration = -1

// FailMode is what limited keys do while the lease source (Redis) is unreachable.
type FailMode int

const (
	// FailOpen counts locally: each node admits up to its share (limit / Nodes) of each window,
	// counting the calls it already admitted in the window; they are reported to the source
	// when it returns.
	FailOpen FailMode = iota
	// FailClosed refuses what the leases already held do not cover.
	FailClosed
)

// LeaseRequest asks the source for Want calls of key Key in the windows starting at Win, Day
// and Month (Unix ns; those of the quotas in Lim that are limited), after counting Owed calls
// admitted without a lease.
type LeaseRequest struct {
	Key                      string
	Win, Day, Month          int64
	WinEnd, DayEnd, MonthEnd int64
	Lim                      Limits
	Want, Owed               int64
	// Div divides what remains: the source grants at most max(1, remaining/Div) calls, so that
	// near the limit the leases shrink and no node strands much of the quota.
	Div int64
}

// LeaseGrant is the source's answer to one LeaseRequest: Granted calls (0 to Want) and what
// remains in each window after them.
type LeaseGrant struct {
	Granted int64
	Left    Remaining
}

// LeaseReturn gives back N unspent calls of Key to the windows starting at Day and Month (the
// throttling window of a returned lease has ended or is about to).
type LeaseReturn struct {
	Key        string
	Win        int64 // 0: the throttling window is not returned to
	Day, Month int64
	N          int64
}

// LeaseSource is the cluster-wide count (Redis): it grants calls atomically, never more than
// what remains. Its methods are called from one goroutine, never from an event loop.
type LeaseSource interface {
	Lease(ctx context.Context, reqs []LeaseRequest, out []LeaseGrant) error
	Return(ctx context.Context, rets []LeaseReturn) error
	Ping(ctx context.Context) error
}

// GlobalOptions configure EnableGlobal.
type GlobalOptions struct {
	Fail FailMode
	// Nodes returns the number of nodes sharing the quotas (the fail-open share and the lease
	// divisor); nil or < 1 means 1.
	Nodes func() int
	// Timeout bounds one call to the source (DefaultLeaseTimeout when zero).
	Timeout time.Duration
	// OnDown and OnUp, when set, are called (from the lease goroutine) when the source becomes
	// unreachable and reachable again.
	OnDown func(err error)
	OnUp   func()
	Logger *slog.Logger
}

// Lease tuning.
const (
	// DefaultLeaseTimeout bounds a call to the source; past it the source is down.
	DefaultLeaseTimeout = 250 * time.Millisecond
	// leaseTarget is how much traffic a lease covers: a key's rate × leaseTarget calls.
	leaseTarget = 100 * time.Millisecond
	// maxLease caps one lease (a hot key then costs at most one call to the source per
	// maxLease calls).
	maxLease = 20000
	// idleReturn returns the unspent lease of a key not called for this long, so that a cold
	// key does not strand calls on one node.
	idleReturn = time.Second
	// scarceIdleReturn is idleReturn for a key the source had little left of at the last grant
	// (less than a lease for every node, see lease.scarce): at the end of a burst the calls one
	// node still holds go back within a sweep or two, where other nodes, refused, ask again.
	scarceIdleReturn = sweepEvery
	// exhaustedRecheck is how long a node refuses a key the source said was exhausted before it
	// asks again (another node may have returned calls).
	exhaustedRecheck = time.Second
	// sweepEvery is the period of idle returns, owed reports and, while down, pings.
	sweepEvery = 250 * time.Millisecond
	// queueLen bounds the slots waiting for the lease goroutine; past it a call that needs a
	// lease is refused (429 with Retry-After 1) instead of blocking a loop.
	queueLen = 1 << 16
)

// lease is a slot's share of a global quota; guarded by the slot's lock.
type lease struct {
	id              string // the slot's client id
	win, day, month int64  // windows the lease is for (0: that quota is not limited)
	lim             Limits // the limits of the last call
	left            int64  // granted calls not yet spent
	size            int64  // the next request size
	spent           int64  // calls spent since the last grant
	grantedAt       int64  // ns
	touched         int64  // ns of the last call
	exhaustedUntil  int64  // ns: the source said no more; refuse until then
	exhaustedEnd    int64  // ns: end of the window the source said is exhausted
	known           Remaining
	owed            int64 // calls admitted without a lease (fail open), to report
	retN            int64 // calls to give back to retDay/retMonth
	retDay, retMon  int64
	pending         bool     // queued for the lease goroutine
	waiters         []func() // parked requests, woken when the lease request ends
}

// leasedSlot is the slot of a key in global mode: the counts, then the lease on the following
// cache lines. With a global, Counters allocates every slot as a leasedSlot (EnableGlobal runs
// before the first Slot), so a *Slot of it is also a *leasedSlot (see leaseOf).
type leasedSlot struct {
	Slot
	lease lease
}

// newSlot allocates the slot of id: a plain Slot, or a leasedSlot in global mode.
func (c *Counters) newSlot(id string) *Slot {
	if c.global == nil {
		return &Slot{}
	}
	ls := &leasedSlot{}
	ls.lease.id = id
	return &ls.Slot
}

// leaseOf returns the lease of sl, a slot allocated by newSlot in global mode.
//
// Validity: Slot is the first field of leasedSlot, so the two pointers are equal, and every
// slot of Counters with a global is a leasedSlot (EnableGlobal must precede the first Slot; it
// panics otherwise).
func leaseOf(sl *Slot) *lease {
	return &(*leasedSlot)(unsafe.Pointer(sl)).lease
}

// global is the lease machinery of Counters in cluster mode.
type global struct {
	src   LeaseSource
	opts  GlobalOptions
	log   *slog.Logger
	queue chan *Slot
	down  atomic.Bool

	mu     sync.Mutex // guards active (lease goroutine and Close)
	active map[*Slot]struct{}

	calls, requests, failures, granted, returned, waits, overflows, openAdmits atomic.Uint64
}

// EnableGlobal makes the limited quotas of c cluster-wide: each call spends a lease of calls
// taken from src, and a call without one is Pending. Call it before the first Take, then run
// RunGlobal. Keys whose three quotas are Unlimited stay local.
func (c *Counters) EnableGlobal(src LeaseSource, opts GlobalOptions) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultLeaseTimeout
	}
	g := &global{src: src, opts: opts, log: opts.Logger, queue: make(chan *Slot, queueLen), active: make(map[*Slot]struct{})}
	if g.log == nil {
		g.log = slog.Default()
	}
	for i := range c.shards {
		if len(c.shards[i].m) > 0 {
			panic("BUG: quota: EnableGlobal after the first Slot")
		}
	}
	c.global = g
}

func (lim Limits) limited() bool {
	return lim.Throttle < Unlimited || lim.Daily < Unlimited || lim.Monthly < Unlimited
}

func (g *global) nodes() int64 {
	if g.opts.Nodes == nil {
		return 1
	}
	return int64(max(g.opts.Nodes(), 1))
}

// share is a node's part of limit while the source is down (at least 1 call when limit > 0).
func (g *global) share(limit int64) int64 {
	if limit >= Unlimited {
		return limit
	}
	return max(limit/g.nodes(), min(limit, 1))
}

// take is TakeSlot for a limited key in global mode: the call spends a unit of the slot's lease.
func (g *global) take(c *Counters, sl *Slot, lim Limits, now time.Time) (ok bool, rem Remaining, retryAfter time.Duration) {
	ns := now.UnixNano()
	cal := c.calendarFor(ns, now)
	win := floorDiv(ns, int64(ThrottleWindow)) * int64(ThrottleWindow)

	sl.mu.Lock()
	e, l := &sl.entry, leaseOf(sl)
	e.roll(win, cal, ns)
	lw, ld, lm := e.win, e.day, e.month
	if lim.Throttle >= Unlimited {
		lw = 0
	}
	if lim.Daily >= Unlimited {
		ld = 0
	}
	if lim.Monthly >= Unlimited {
		lm = 0
	}
	if l.win != lw || l.day != ld || l.month != lm {
		// A window ended: the unspent calls go back to the windows that go on.
		if l.left > 0 && l.day == ld && l.month == lm && (l.retN == 0 || (l.retDay == ld && l.retMon == lm)) {
			l.retN += l.left
			l.retDay, l.retMon = ld, lm
		}
		l.win, l.day, l.month = lw, ld, lm
		l.left, l.spent, l.exhaustedUntil = 0, 0, 0
	}
	l.lim = lim
	l.touched = ns
	wc, dc, mc := e.winCalls+1, e.dayCalls+1, e.monthCalls+1
	okW, okD, okM := within(wc, lim.Throttle), within(dc, lim.Daily), within(mc, lim.Monthly)
	ok = okW && okD && okM
	switch {
	case !ok:
		// This node alone reached a limit.
	case l.left > 0:
		l.left--
		l.spent++
		if l.left*2 < l.size && !l.pending && ns >= l.exhaustedUntil {
			l.pending = g.enqueue(sl)
		}
	case g.down.Load():
		if g.opts.Fail == FailOpen && within(wc, g.share(lim.Throttle)) && within(dc, g.share(lim.Daily)) && within(mc, g.share(lim.Monthly)) {
			l.owed++
			g.openAdmits.Add(1)
			if l.owed == 1 && !l.pending {
				// Tracked by the lease goroutine, which reports it once the source is back.
				l.pending = g.enqueue(sl)
			}
		} else {
			ok = false
			retryAfter = time.Second
		}
	case ns < l.exhaustedUntil:
		ok = false
		retryAfter = time.Duration(max(l.exhaustedEnd-ns, int64(time.Second)))
	default:
		if !l.pending {
			l.pending = g.enqueue(sl)
		}
		if l.pending {
			sl.mu.Unlock()
			return false, Remaining{}, Pending
		}
		g.overflows.Add(1)
		ok = false
		retryAfter = time.Second
	}
	if ok {
		e.winCalls, e.dayCalls, e.monthCalls = wc, dc, mc
		e.dirty = true
	} else {
		wc, dc, mc = e.winCalls, e.dayCalls, e.monthCalls
	}
	known, left := l.known, l.left
	win, day, month := e.win, e.day, e.month
	sl.mu.Unlock()

	rem = Remaining{
		Throttle: globalRemaining(lim.Throttle, wc, known.Throttle, left),
		Daily:    globalRemaining(lim.Daily, dc, known.Daily, left),
		Monthly:  globalRemaining(lim.Monthly, mc, known.Monthly, left),
	}
	if !ok && retryAfter == 0 {
		retryAfter = c.retryAfter(okW, okD, okM, win, day, month, cal, ns)
	}
	return ok, rem, retryAfter
}

// globalRemaining is what remains cluster-wide as this node knows it: the source's remainder at
// the last grant plus this node's unspent lease (the local count for an unlimited quota).
func globalRemaining(limit, local, known, left int64) int64 {
	if limit >= Unlimited {
		return remaining(limit, local)
	}
	return max(known+left, 0)
}

// enqueue hands sl to the lease goroutine without blocking; false when the queue is full.
func (g *global) enqueue(sl *Slot) bool {
	select {
	case g.queue <- sl:
		return true
	default:
		return false
	}
}

// Wait calls wake once the lease request of clientID's pending call has ended (granted,
// refused or failed), from the lease goroutine, or at once when none is pending. The woken
// caller takes again. Safe for concurrent use; wake must not block.
func (c *Counters) Wait(clientID string, wake func()) {
	c.waitSlot(c.lookup(clientID), wake)
}

// waitSlot is Wait for the slot sl (nil: none).
func (c *Counters) waitSlot(sl *Slot, wake func()) {
	if sl == nil || c.global == nil {
		wake()
		return
	}
	sl.mu.Lock()
	if !leaseOf(sl).pending {
		sl.mu.Unlock()
		wake()
		return
	}
	leaseOf(sl).waiters = append(leaseOf(sl).waiters, wake)
	sl.mu.Unlock()
	if g := c.global; g != nil {
		g.waits.Add(1)
	}
}

// RunGlobal runs the lease goroutine until ctx is done: it batches lease requests to the
// source, returns idle leases, reports calls admitted while the source was down and pings it
// until it is back. Then it returns every unspent lease (shutdown).
func (c *Counters) RunGlobal(ctx context.Context) {
	g := c.global
	if g == nil {
		return
	}
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	batch := make([]*Slot, 0, 256)
	for {
		select {
		case sl := <-g.queue:
			batch = append(batch[:0], sl)
		drain:
			for len(batch) < cap(batch) {
				select {
				case sl := <-g.queue:
					batch = append(batch, sl)
				default:
					break drain
				}
			}
			g.serve(batch)
		case <-t.C:
			g.sweep(time.Now(), false)
		case <-ctx.Done():
			g.sweep(time.Now(), true)
			return
		}
	}
}

// serve asks the source for the leases of batch and wakes the parked requests.
func (g *global) serve(batch []*Slot) {
	now := time.Now().UnixNano()
	reqs := make([]LeaseRequest, len(batch))
	div := g.nodes()
	for i, sl := range batch {
		sl.mu.Lock()
		l := leaseOf(sl)
		want := max(l.size, int64(2*len(l.waiters)), 1)
		reqs[i] = LeaseRequest{Key: l.id, Win: l.win, Day: l.day, Month: l.month, Lim: l.lim, Want: want, Owed: l.owed, Div: div}
		sl.mu.Unlock()
		reqs[i].WinEnd, reqs[i].DayEnd, reqs[i].MonthEnd = windowEnds(reqs[i])
	}
	grants := make([]LeaseGrant, len(batch))
	var err error
	if g.down.Load() {
		err = errors.New("the lease source is down")
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), g.opts.Timeout)
		err = g.src.Lease(ctx, reqs, grants)
		cancel()
		g.calls.Add(1)
		g.requests.Add(uint64(len(reqs)))
		if err != nil {
			g.setDown(err)
		}
	}
	var rets []LeaseReturn
	for i, sl := range batch {
		r := reqs[i]
		sl.mu.Lock()
		l := leaseOf(sl)
		l.pending = false
		if err == nil {
			gr := grants[i]
			l.owed -= r.Owed
			g.granted.Add(uint64(gr.Granted))
			if l.win == r.Win && l.day == r.Day && l.month == r.Month {
				l.left += gr.Granted
				l.known = gr.Left
				l.size = nextSize(l.spent, now-l.grantedAt, r.Want)
				l.spent, l.grantedAt = 0, now
				if gr.Granted == 0 {
					l.exhaustedUntil = now + int64(exhaustedRecheck)
					l.exhaustedEnd = exhaustedEnd(r, gr.Left)
				}
			} else if gr.Granted > 0 {
				// The windows rolled during the call: the grant is for windows gone by.
				rets = append(rets, LeaseReturn{Key: r.Key, Win: r.Win, Day: r.Day, Month: r.Month, N: gr.Granted})
			}
		}
		ws := l.waiters
		l.waiters = nil
		sl.mu.Unlock()
		g.mu.Lock()
		g.active[sl] = struct{}{}
		g.mu.Unlock()
		for _, w := range ws {
			w()
		}
	}
	g.giveBack(rets)
}

// nextSize adapts a lease to the key's rate: the calls it made in leaseTarget, between 1 and
// maxLease.
func nextSize(spent, elapsed, want int64) int64 {
	if elapsed <= 0 {
		return max(want, 1)
	}
	n := spent * int64(leaseTarget) / elapsed
	return min(max(n, 1), maxLease)
}

// windowEnds returns the end of each window of r (0 when the window is not limited): a
// window's counter in the source expires after it.
func windowEnds(r LeaseRequest) (win, day, month int64) {
	if r.Win != 0 {
		win = r.Win + int64(ThrottleWindow)
	}
	if r.Day != 0 {
		t := time.Unix(0, r.Day)
		day = t.AddDate(0, 0, 1).UnixNano()
	}
	if r.Month != 0 {
		t := time.Unix(0, r.Month)
		month = t.AddDate(0, 1, 0).UnixNano()
	}
	return win, day, month
}

// exhaustedEnd is the end of the latest window the source has nothing left in.
func exhaustedEnd(r LeaseRequest, left Remaining) int64 {
	var end int64
	if r.Win != 0 && left.Throttle <= 0 {
		end = r.WinEnd
	}
	if r.Day != 0 && left.Daily <= 0 {
		end = max(end, r.DayEnd)
	}
	if r.Month != 0 && left.Monthly <= 0 {
		end = max(end, r.MonthEnd)
	}
	return end
}

// sweep returns idle leases (all of them when final), queues the report of calls owed, and
// pings the source while it is down.
func (g *global) sweep(now time.Time, final bool) {
	ns := now.UnixNano()
	if g.down.Load() && !final {
		ctx, cancel := context.WithTimeout(context.Background(), g.opts.Timeout)
		err := g.src.Ping(ctx)
		cancel()
		if err != nil {
			return
		}
		g.down.Store(false)
		g.log.Info("quota lease source reachable again: cluster-wide counting resumes")
		if g.opts.OnUp != nil {
			g.opts.OnUp()
		}
	}
	var rets []LeaseReturn
	var owing []*Slot
	nodes := g.nodes()
	g.mu.Lock()
	for sl := range g.active {
		sl.mu.Lock()
		l := leaseOf(sl)
		idle := ns - l.touched
		if l.left > 0 && (final || idle > int64(idleReturn) || (idle > int64(scarceIdleReturn) && l.scarce(nodes))) {
			rets = append(rets, LeaseReturn{Key: l.id, Win: l.win, Day: l.day, Month: l.month, N: l.left})
			l.left = 0
			l.size = 1
		}
		if l.retN > 0 {
			rets = append(rets, LeaseReturn{Key: l.id, Day: l.retDay, Month: l.retMon, N: l.retN})
			l.retN = 0
		}
		if l.owed > 0 && !l.pending && !final {
			owing = append(owing, sl)
			l.pending = true
		}
		done := l.left == 0 && l.owed == 0 && l.retN == 0 && !l.pending
		sl.mu.Unlock()
		if done {
			delete(g.active, sl)
		}
	}
	g.mu.Unlock()
	g.giveBack(rets)
	if len(owing) > 0 {
		g.serve(owing)
	}
}

// scarce reports whether the source had less left, in one of the lease's windows, than a lease
// of this size for each of nodes nodes at the last grant: the rest of the quota is then mostly
// in leases, and an idle node's unspent calls are what the others can still get.
func (l *lease) scarce(nodes int64) bool {
	want := nodes * max(l.size, 1)
	return (l.win != 0 && l.known.Throttle < want) || (l.day != 0 && l.known.Daily < want) ||
		(l.month != 0 && l.known.Monthly < want)
}

// giveBack returns unspent calls to the source; a failed return is counted (those calls are
// lost for the window: under-admission, never over-admission).
func (g *global) giveBack(rets []LeaseReturn) {
	if len(rets) == 0 || g.down.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.Timeout)
	err := g.src.Return(ctx, rets)
	cancel()
	g.calls.Add(1)
	g.requests.Add(uint64(len(rets)))
	if err != nil {
		g.setDown(err)
		return
	}
	for _, r := range rets {
		g.returned.Add(uint64(r.N))
	}
}

func (g *global) setDown(err error) {
	g.failures.Add(1)
	if g.down.CompareAndSwap(false, true) {
		g.log.Error("quota lease source unreachable: limited keys now fail "+g.opts.Fail.String(), "err", err)
		if g.opts.OnDown != nil {
			g.opts.OnDown(err)
		}
	}
}

func (m FailMode) String() string {
	if m == FailClosed {
		return "closed"
	}
	return "open"
}

// GlobalStats are the counters of the lease machinery.
type GlobalStats struct {
	Up bool
	// Calls are round trips to the source (each a batch), Requests the lease and return
	// requests they carried (one script run each); Failures the failed round trips.
	Calls, Requests, Failures uint64
	// Granted and Returned are calls leased and given back; Held the unspent ones held now.
	Granted, Returned uint64
	Held              int64
	// Waits are requests parked for a lease; Overflows calls refused because the lease queue
	// was full; OpenAdmits calls admitted locally while the source was down.
	Waits, Overflows, OpenAdmits uint64
}

// GlobalStats reports the lease counters (zero without EnableGlobal). Safe for concurrent use.
func (c *Counters) GlobalStats() GlobalStats {
	g := c.global
	if g == nil {
		return GlobalStats{}
	}
	var held int64
	g.mu.Lock()
	for sl := range g.active {
		sl.mu.Lock()
		held += leaseOf(sl).left
		sl.mu.Unlock()
	}
	g.mu.Unlock()
	return GlobalStats{Up: !g.down.Load(), Calls: g.calls.Load(), Requests: g.requests.Load(), Failures: g.failures.Load(),
		Granted: g.granted.Load(), Returned: g.returned.Load(), Held: held,
		Waits: g.waits.Load(), Overflows: g.overflows.Load(), OpenAdmits: g.openAdmits.Load()}
}
