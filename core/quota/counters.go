package quota

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// Unlimited is Otoroshi's "no limit" quota value. A limit at or above it is
// not enforced; calls are still counted.
const Unlimited = 10_000_000

// ThrottleWindow is the length of the throttling window: throttlingQuota is
// the number of calls allowed per window (Otoroshi's current semantics).
const ThrottleWindow = 10 * time.Second

// DefaultShards is the shard count used when Options.Shards is zero. It is a
// power of two well above the number of event loops, so two loops rarely
// touch the same shard unless they serve the same key.
const DefaultShards = 64

// cacheLine is the size shards and entries are padded to, so that counters
// written by different cores never share a cache line.
const cacheLine = 64

// Limits are the three quotas of one key, in calls per window.
type Limits struct {
	Throttle, Daily, Monthly int64
}

// Remaining is what a key may still do in each window after the current call.
// The values are never negative.
type Remaining struct {
	Throttle, Daily, Monthly int64
}

// Usage is the quota state of one key, with exactly the JSON fields of
// Otoroshi's GET /api/apikeys/:id/quotas.
type Usage struct {
	AuthorizedCallsPerWindow int64 `json:"authorizedCallsPerWindow"`
	ThrottlingCallsPerWindow int64 `json:"throttlingCallsPerWindow"`
	RemainingCallsPerWindow  int64 `json:"remainingCallsPerWindow"`
	AuthorizedCallsPerDay    int64 `json:"authorizedCallsPerDay"`
	CurrentCallsPerDay       int64 `json:"currentCallsPerDay"`
	RemainingCallsPerDay     int64 `json:"remainingCallsPerDay"`
	AuthorizedCallsPerMonth  int64 `json:"authorizedCallsPerMonth"`
	CurrentCallsPerMonth     int64 `json:"currentCallsPerMonth"`
	RemainingCallsPerMonth   int64 `json:"remainingCallsPerMonth"`
}

// Options configure New. The zero value is valid.
type Options struct {
	// Shards is rounded up to a power of two; 0 means DefaultShards.
	Shards int
	// Location defines calendar days and months; nil means UTC.
	Location *time.Location
}

// Slot holds the counts of one client id, behind its own lock, padded to a
// cache line so that keys counted by different cores never share one. Get it
// with Counters.Slot; a Slot stays valid, and bound to its id, for the life
// of the Counters.
type Slot struct {
	mu sync.Mutex
	// The padding sits before entry: a zero-size last field would grow the
	// struct.
	_ [cacheLine - unsafe.Sizeof(sync.Mutex{}) - unsafe.Sizeof(entry{})]byte
	entry
}

// entry holds the counts of one key; it is only read or written with its
// Slot's lock held. Windows are identified by their start in Unix
// nanoseconds: win for the 10-second throttling window (aligned on the
// epoch), day and month for the calendar day and month.
type entry struct {
	win, winCalls     int64
	day, dayCalls     int64
	month, monthCalls int64
	dirty             bool // daily or monthly counts changed since the last flush
}

// shard maps client ids to slots; its lock guards the map only.
type shard struct {
	mu sync.Mutex
	m  map[string]*Slot
	_  [cacheLine - unsafe.Sizeof(sync.Mutex{}) - unsafe.Sizeof(map[string]*Slot(nil))]byte
}

// calendar caches the current day and month bounds (Unix nanoseconds) so that
// Take computes calendar windows with two comparisons instead of time.Date.
//
// Every Take reads it, from every loop, and it is replaced once a day: it is
// padded to a cache line so that no object a core writes shares its line.
type calendar struct {
	dayStart, dayEnd     int64
	monthStart, monthEnd int64
	_                    [cacheLine - 4*8]byte
}

// Counters is the sharded table of per-key counts. Create it with New.
// Every loop reads it on every counted call, so it fills one cache line by
// itself (see calendar).
type Counters struct {
	shards []shard
	mask   uint64
	loc    *time.Location
	cal    atomic.Pointer[calendar]
	// global, when set (EnableGlobal, before any Take), makes limited keys
	// spend leases of a cluster-wide quota.
	global *global
	_      [cacheLine - 7*8]byte
}

// New returns empty counters.
func New(opts Options) *Counters {
	n := opts.Shards
	if n <= 0 {
		n = DefaultShards
	}
	size := 1
	for size < n {
		size <<= 1
	}
	c := &Counters{shards: make([]shard, size), mask: uint64(size - 1), loc: opts.Location}
	if c.loc == nil {
		c.loc = time.UTC
	}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*Slot)
	}
	return c
}

// Location returns the time zone of calendar windows.
func (c *Counters) Location() *time.Location { return c.loc }

func (c *Counters) shardFor(clientID string) *shard {
	return &c.shards[xxhash.Sum64String(clientID)&c.mask]
}

// calendarFor returns the day and month bounds containing now. It allocates
// only when now leaves the cached day.
func (c *Counters) calendarFor(ns int64, now time.Time) *calendar {
	if cal := c.cal.Load(); cal != nil && ns >= cal.dayStart && ns < cal.dayEnd {
		return cal
	}
	t := now.In(c.loc)
	y, m, d := t.Date()
	cal := &calendar{
		dayStart:   time.Date(y, m, d, 0, 0, 0, 0, c.loc).UnixNano(),
		dayEnd:     time.Date(y, m, d+1, 0, 0, 0, 0, c.loc).UnixNano(),
		monthStart: time.Date(y, m, 1, 0, 0, 0, 0, c.loc).UnixNano(),
		monthEnd:   time.Date(y, m+1, 1, 0, 0, 0, 0, c.loc).UnixNano(),
	}
	c.cal.Store(cal)
	return cal
}

// maxSkew is how far back in time a call may be and still count in a slot's
// newer window. Event loops read the clock at slightly different moments, so
// a call stamped 23:59:59.9999 may reach a slot already rolled to the next
// day: counting it there (instead of rolling back and losing the day's
// count) keeps the quota exact. A call further back means the clock stepped
// back; its window restarts, so a key is not locked out until the clock
// catches up.
const maxSkew = time.Second

// restart reports whether a count whose window starts at start must restart
// for a call at ns whose own window starts at cur.
func restart(start, cur, ns int64) bool {
	return cur > start || (cur < start && ns < start-int64(maxSkew))
}

// roll resets the counts whose window is behind the call's window (see
// maxSkew for calls behind the slot's window).
func (e *entry) roll(win int64, cal *calendar, ns int64) {
	if restart(e.win, win, ns) {
		e.win, e.winCalls = win, 0
	}
	if restart(e.day, cal.dayStart, ns) {
		e.day, e.dayCalls = cal.dayStart, 0
		e.dirty = true
	}
	if restart(e.month, cal.monthStart, ns) {
		e.month, e.monthCalls = cal.monthStart, 0
		e.dirty = true
	}
}

func within(n, limit int64) bool { return limit >= Unlimited || n <= limit }

func remaining(limit, n int64) int64 {
	if n >= limit {
		return 0
	}
	return limit - n
}

// Slot returns the slot of clientID, creating it on first use (the only
// allocation of the package's hot path). clientID is copied, so it may alias
// a reusable buffer. Safe for concurrent use.
func (c *Counters) Slot(clientID string) *Slot {
	sh := c.shardFor(clientID)
	sh.mu.Lock()
	sl := sh.m[clientID]
	if sl == nil {
		id := strings.Clone(clientID)
		sl = c.newSlot(id)
		sh.m[id] = sl
	}
	sh.mu.Unlock()
	return sl
}

// Take counts one call of clientID if, after counting it, every count is
// within lim; otherwise it counts nothing. It returns whether the call is
// allowed, what remains in each window, and, for a refused call, how long
// until the last exhausted window ends (the earliest moment a retry can
// succeed). Take is Slot followed by TakeSlot; callers that keep the Slot of
// a key skip the map lookup.
//
// Take is safe for concurrent use, performs no I/O and allocates only on the
// first call for a client id and once per calendar day.
func (c *Counters) Take(clientID string, lim Limits, now time.Time) (ok bool, rem Remaining, retryAfter time.Duration) {
	return c.TakeSlot(c.Slot(clientID), lim, now)
}

// TakeSlot is Take for a slot obtained from c.Slot. The check and the count
// happen under the slot's lock, as one step.
func (c *Counters) TakeSlot(sl *Slot, lim Limits, now time.Time) (ok bool, rem Remaining, retryAfter time.Duration) {
	if g := c.global; g != nil && lim.limited() {
		return g.take(c, sl, lim, now)
	}
	ns := now.UnixNano()
	cal := c.calendarFor(ns, now)
	win := floorDiv(ns, int64(ThrottleWindow)) * int64(ThrottleWindow)

	sl.mu.Lock()
	e := &sl.entry
	e.roll(win, cal, ns)
	wc, dc, mc := e.winCalls+1, e.dayCalls+1, e.monthCalls+1
	okW, okD, okM := within(wc, lim.Throttle), within(dc, lim.Daily), within(mc, lim.Monthly)
	ok = okW && okD && okM
	if ok {
		e.winCalls, e.dayCalls, e.monthCalls = wc, dc, mc
		e.dirty = true
	} else {
		wc, dc, mc = e.winCalls, e.dayCalls, e.monthCalls
	}
	// The slot's windows, which a skewed call counts in (see maxSkew).
	win, day, month := e.win, e.day, e.month
	sl.mu.Unlock()

	rem = Remaining{
		Throttle: remaining(lim.Throttle, wc),
		Daily:    remaining(lim.Daily, dc),
		Monthly:  remaining(lim.Monthly, mc),
	}
	if !ok {
		retryAfter = c.retryAfter(okW, okD, okM, win, day, month, cal, ns)
	}
	return ok, rem, retryAfter
}

// retryAfter is how long until every refusing window (throttle, day, month:
// the ok flags that are false) has ended, from ns.
func (c *Counters) retryAfter(okW, okD, okM bool, win, day, month int64, cal *calendar, ns int64) time.Duration {
	var end int64
	if !okW {
		end = win + int64(ThrottleWindow)
	}
	if !okD {
		end = max(end, c.windowEnd(day, cal.dayStart, cal.dayEnd, false))
	}
	if !okM {
		end = max(end, c.windowEnd(month, cal.monthStart, cal.monthEnd, true))
	}
	return time.Duration(end - ns)
}

// windowEnd returns the end of the calendar day (or month) that starts at
// start: calEnd when that is the call's own window calStart, otherwise (a
// skewed call counted in the slot's next window) computed from start.
func (c *Counters) windowEnd(start, calStart, calEnd int64, month bool) int64 {
	if start == calStart {
		return calEnd
	}
	y, m, d := time.Unix(0, start).In(c.loc).Date()
	if month {
		return time.Date(y, m+1, 1, 0, 0, 0, 0, c.loc).UnixNano()
	}
	return time.Date(y, m, d+1, 0, 0, 0, 0, c.loc).UnixNano()
}

// Usage reports the counts of clientID in the windows containing now, in
// Otoroshi's format. It does not count a call. Safe for concurrent use.
func (c *Counters) Usage(clientID string, lim Limits, now time.Time) Usage {
	ns := now.UnixNano()
	cal := c.calendarFor(ns, now)
	win := floorDiv(ns, int64(ThrottleWindow)) * int64(ThrottleWindow)

	var e entry
	if sl := c.lookup(clientID); sl != nil {
		sl.mu.Lock()
		e = sl.entry
		sl.mu.Unlock()
	}
	e.roll(win, cal, ns) // on the copy: reading never changes state

	return Usage{
		AuthorizedCallsPerWindow: lim.Throttle,
		ThrottlingCallsPerWindow: e.winCalls,
		RemainingCallsPerWindow:  remaining(lim.Throttle, e.winCalls),
		AuthorizedCallsPerDay:    lim.Daily,
		CurrentCallsPerDay:       e.dayCalls,
		RemainingCallsPerDay:     remaining(lim.Daily, e.dayCalls),
		AuthorizedCallsPerMonth:  lim.Monthly,
		CurrentCallsPerMonth:     e.monthCalls,
		RemainingCallsPerMonth:   remaining(lim.Monthly, e.monthCalls),
	}
}

// Reset sets every count of clientID to zero, as Otoroshi's
// DELETE /api/apikeys/:id/quotas does. The reset is persisted by the next
// flush. Safe for concurrent use.
func (c *Counters) Reset(clientID string) {
	if sl := c.lookup(clientID); sl != nil {
		sl.mu.Lock()
		sl.winCalls, sl.dayCalls, sl.monthCalls = 0, 0, 0
		sl.dirty = true
		sl.mu.Unlock()
	}
}

// lookup returns the slot of clientID, or nil if it was never counted.
func (c *Counters) lookup(clientID string) *Slot {
	sh := c.shardFor(clientID)
	sh.mu.Lock()
	sl := sh.m[clientID]
	sh.mu.Unlock()
	return sl
}

// floorDiv is a/b rounded towards negative infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	if a >= 0 { // every date after 1970: one multiply, no remainder
		return a / b
	}
	return -((-a + b - 1) / b)
}
