package core

import "testing"

type testOwner struct {
	id    int
	fired *[]int
}

func (o *testOwner) expire(*loop, int64) { *o.fired = append(*o.fired, o.id) }

func TestWheel(t *testing.T) {
	var w wheel
	w.init(10, 0)
	var fired []int
	timers := make([]timer, 6)
	for i := range timers {
		timers[i].owner = &testOwner{id: i, fired: &fired}
	}
	w.arm(&timers[0], 25)
	w.arm(&timers[1], 5)
	w.arm(&timers[2], 10*wheelSlots+15) // one revolution later, same slot as 15
	w.arm(&timers[3], 15)
	w.arm(&timers[4], 40)
	w.disarm(&timers[4])
	w.arm(&timers[5], 30)
	w.arm(&timers[5], 60) // re-arming moves it

	f := func(now int64, want ...int) {
		t.Helper()
		fired = fired[:0]
		w.advance(nil, now)
		if len(fired) != len(want) {
			t.Fatalf("at %d fired %v, want %v", now, fired, want)
		}
		seen := map[int]bool{}
		for _, id := range fired {
			seen[id] = true
		}
		for _, id := range want {
			if !seen[id] {
				t.Fatalf("at %d fired %v, want %v", now, fired, want)
			}
		}
	}
	f(4)
	f(9, 1)
	f(20, 3)
	f(35, 0)
	f(59)
	f(100, 5)
	f(10*wheelSlots + 14)
	f(10*wheelSlots+15, 2)
	f(100 * wheelSlots)
	for i := range timers {
		if timers[i].armed() {
			t.Errorf("timer %d still armed", i)
		}
	}
}

// A timer armed for the server clock's very first millisecond (deadline 0,
// as a zero-delay retry at startup gets) must still fire: 0 is also the
// wheel's "disarmed" mark.
func TestWheelDeadlineZero(t *testing.T) {
	var w wheel
	w.init(10, 0)
	var fired []int
	var tm timer
	tm.owner = &testOwner{id: 1, fired: &fired}
	w.arm(&tm, 0)
	w.advance(nil, 0)
	w.advance(nil, 10)
	if len(fired) != 1 || tm.armed() {
		t.Fatalf("fired %v, armed %v: want the timer fired once", fired, tm.armed())
	}
}
