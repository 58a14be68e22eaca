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

// Raise adopts a leader's counts of clientID: the leader's counts held this node's calls up to
// pushed (its counts when it pushed them), so each count becomes at least the leader's plus
// what this node counted since. It returns the counts after. Safe for concurrent use.
func (c *Counters) Raise(clientID string, leader, pushed Counts, now time.Time) Counts {
	ns := now.UnixNano()
	cal := c.calendarFor(ns, now)
	win := floorDiv(ns, int64(ThrottleWindow)) * int64(ThrottleWindow)
	sl := c.Slot(clientID)
	sl.mu.Lock()
	e := &sl.entry
	e.roll(win, cal, ns)
	raise := func(cur *int64, lead, push int64) {
		if *cur >= push && lead+*cur-push > *cur {
			*cur = lead + *cur - push
			e.dirty = true
		}
	}
	raise(&e.winCalls, leader.Win, pushed.Win)
	raise(&e.dayCalls, leader.Day, pushed.Day)
	raise(&e.monthCalls, leader.Month, pushed.Month)
	out := Counts{Win: e.winCalls, Day: e.dayCalls, Month: e.monthCalls}
	sl.mu.Unlock()
	return out
}

// Each calls fn with the client id and the counts of every key, in the windows containing now
// (a key whose windows ended reports zeros). fn runs with no lock held. Safe for concurrent use.
func (c *Counters) Each(now time.Time, fn func(clientID string, n Counts)) {
	ns := now.UnixNano()
	cal := c.calendarFor(ns, now)
	win := floorDiv(ns, int64(ThrottleWindow)) * int64(ThrottleWindow)
	type item struct {
		id string
		sl *Slot
	}
	var items []item
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for id, sl := range sh.m {
			items = append(items, item{id, sl})
		}
		sh.mu.Unlock()
	}
	for _, it := range items {
		it.sl.mu.Lock()
		e := it.sl.entry
		it.sl.mu.Unlock()
		e.roll(win, cal, ns)
		fn(it.id, Counts{Win: e.winCalls, Day: e.dayCalls, Month: e.monthCalls})
	}
}
