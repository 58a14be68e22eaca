package core

// A timer is one deadline in a loop's timing wheel. It is embedded in the
// connection structs, so arming and disarming never allocate. A timer belongs
// to exactly one loop and is only touched on that loop's goroutine.
type timer struct {
	prev, next *timer
	deadline   int64 // ms on the server clock; 0 when disarmed
	owner      timerOwner
}

// timerOwner is told when its timer expires.
type timerOwner interface {
	expire(lp *loop, now int64)
}

// wheelSlots is the number of slots of a wheel. With a 10 ms tick one
// revolution is ~5 s; later deadlines stay in their slot for extra rounds.
const wheelSlots = 512

// wheel is a hashed timing wheel: slot i holds the timers whose deadline
// falls in tick i modulo wheelSlots, as an intrusive circular list. Arming,
// disarming and expiring are O(1) per timer; advancing visits one slot per
// elapsed tick. It is owned by one loop and not safe for concurrent use.
type wheel struct {
	tick  int64 // ms per slot
	slots [wheelSlots]timer
	last  int64 // the last tick that was processed
	due   []*timer
}

func (w *wheel) init(tickMs, now int64) {
	if tickMs <= 0 {
		tickMs = 10
	}
	w.tick = tickMs
	w.last = now / tickMs
	for i := range w.slots {
		s := &w.slots[i]
		s.prev, s.next = s, s
	}
}

// arm sets t to fire at deadline (ms), replacing any earlier arming.
func (w *wheel) arm(t *timer, deadline int64) {
	if t.next != nil {
		t.unlink()
	}
	// 0 means disarmed (advance skips such timers), but it is also a real
	// time on the server clock, which starts at 0: a timer armed for "now"
	// in the server's first millisecond (a zero-delay retry) would be
	// dropped without firing. It fires 1 ms later instead.
	if deadline < 1 {
		deadline = 1
	}
	t.deadline = deadline
	s := &w.slots[(deadline/w.tick)%wheelSlots]
	t.prev = s.prev
	t.next = s
	s.prev.next = t
	s.prev = t
}

// disarm cancels t; disarming a disarmed timer is a no-op.
func (w *wheel) disarm(t *timer) {
	if t.next != nil {
		t.unlink()
	}
	t.deadline = 0
}

func (t *timer) unlink() {
	t.prev.next = t.next
	t.next.prev = t.prev
	t.prev, t.next = nil, nil
}

// armed reports whether t is waiting in a wheel.
func (t *timer) armed() bool { return t.next != nil }

// advance fires every timer whose deadline is at or before now. Owners may
// re-arm or disarm any timer from expire.
func (w *wheel) advance(lp *loop, now int64) {
	cur := now / w.tick
	if cur-w.last > wheelSlots {
		w.last = cur - wheelSlots
	}
	for ; w.last <= cur; w.last++ {
		s := &w.slots[w.last%wheelSlots]
		for t := s.next; t != s; {
			next := t.next
			if t.deadline <= now {
				t.unlink()
				w.due = append(w.due, t)
			}
			t = next
		}
	}
	w.last = cur
	for i, t := range w.due {
		w.due[i] = nil
		if t.deadline != 0 && !t.armed() && t.deadline <= now {
			t.deadline = 0
			t.owner.expire(lp, now)
		}
	}
	w.due = w.due[:0]
}
