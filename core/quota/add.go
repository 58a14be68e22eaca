package quota

import "time"

// Counts are a key's calls in the windows containing a moment.
type Counts struct {
	Win, Day, Month int64
}

// Add counts n calls of clientID without checking any limit and returns its counts after
// them. A cluster leader applies its workers' pushed increments with it (they were already
// admitted); n <= 0 only reads. Safe for concurrent use; allocates a slot on a key's first call.
func (c *Counters) Add(clientID string, n int64, now time.Time) Counts {
	return c.AddSlot(c.Slot(clientID), n, now)
}

// AddSlot is Add for a slot obtained from c.Slot.
func (c *Counters) AddSlot(sl *Slot, n int64, now time.Time) Counts {
	ns := now.UnixNano()
	cal := c.calendarFor(ns, now)
	win := floorDiv(ns, int64(ThrottleWindow)) * int64(ThrottleWindow)
	sl.mu.Lock()
	e := &sl.entry
	e.roll(win, cal, ns)
	if n > 0 {
		e.winCalls += n
		e.dayCalls += n
		e.monthCalls += n
		e.dirty = true
	}
	out := Counts{Win: e.winCalls, Day: e.dayCalls, Month: e.monthCalls}
	sl.mu.Unlock()
	return out
}

// Raise sets clientID's counts to at least the given ones in the windows containing now (a
// worker adopting the leader's counts, which include its own pushed calls). Safe for concurrent
// use.
func (c *Counters) Raise(clientID string, to Counts, now time.Time) {
	ns := now.UnixNano()
	cal := c.calendarFor(ns, now)
	win := floorDiv(ns, int64(ThrottleWindow)) * int64(ThrottleWindow)
	sl := c.Slot(clientID)
	sl.mu.Lock()
	e := &sl.entry
	e.roll(win, cal, ns)
	e.winCalls = max(e.winCalls, to.Win)
	e.dayCalls = max(e.dayCalls, to.Day)
	e.monthCalls = max(e.monthCalls, to.Month)
	sl.mu.Unlock()
}
