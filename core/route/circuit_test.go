package route

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// eventLog records registry events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) kinds() []EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []EventKind
	for _, e := range l.events {
		out = append(out, e.Kind)
	}
	return out
}

func circuitSetup(t *testing.T) (*Compiled, *fakeClock, *eventLog) {
	t.Helper()
	clock := &fakeClock{}
	clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	log := &eventLog{}
	reg := NewRegistry()
	reg.Now = clock.Now
	reg.OnEvent = log.add
	tab := mustCompile(t, `[{"id":"r","frontend":{"domains":["h.com"]},"backend":{
	 "client":{"max_errors":3,"sample_interval":1000},
	 "targets":[{"id":"a","hostname":"127.0.0.1","port":1},{"id":"b","hostname":"127.0.0.1","port":2}]}}]`,
		CompileOptions{Registry: reg})
	return tab.Route("r"), clock, log
}

func TestCircuitBreakerOpensHalfOpensCloses(t *testing.T) {
	c, clock, log := circuitSetup(t)
	a := &c.Upstreams()[0]
	c.Report(a, false, 0)
	c.Report(a, false, 0)
	if s := a.State().Circuit(); s != CircuitClosed {
		t.Fatalf("after 2 of 3 errors: %s, want closed", s)
	}
	c.Report(a, false, 0)
	if s := a.State().Circuit(); s != CircuitOpen {
		t.Fatalf("after 3 errors: %s, want open", s)
	}
	for range 10 {
		if _, i := c.Pick(nil); i != 1 {
			t.Fatalf("open circuit: picked %d, want 1", i)
		}
	}
	clock.Advance(999 * time.Millisecond)
	if _, i := c.Pick(&PickInput{Tried: 0b10}); i != -1 {
		t.Fatalf("before sample_interval: picked %d, want none", i)
	}
	clock.Advance(time.Millisecond)
	u, i := c.Pick(&PickInput{Tried: 0b10})
	if i != 0 || a.State().Circuit() != CircuitHalfOpen {
		t.Fatalf("after sample_interval: picked %d in state %s, want the half-open trial on 0", i, a.State().Circuit())
	}
	if _, i := c.Pick(&PickInput{Tried: 0b10}); i != -1 {
		t.Fatalf("second pick while the trial is out: %d, want none", i)
	}
	c.Report(u, true, time.Millisecond)
	if s := a.State().Circuit(); s != CircuitClosed {
		t.Fatalf("after a successful trial: %s, want closed", s)
	}
	want := []EventKind{EventCircuitOpened, EventCircuitHalfOpen, EventCircuitClosed}
	if got := log.kinds(); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("events %v, want %v", got, want)
	}
	if ev := log.events[0]; ev.RouteID != "r" || ev.TargetID != "a" || ev.Time.IsZero() {
		t.Fatalf("event fields: %+v", ev)
	}
}

func TestCircuitBreakerFailedTrialReopens(t *testing.T) {
	c, clock, _ := circuitSetup(t)
	a := &c.Upstreams()[0]
	for range 3 {
		c.Report(a, false, 0)
	}
	clock.Advance(time.Second)
	u, _ := c.Pick(&PickInput{Tried: 0b10})
	if u != a {
		t.Fatalf("want the trial on target a")
	}
	c.Report(u, false, 0)
	if s := a.State().Circuit(); s != CircuitOpen {
		t.Fatalf("after a failed trial: %s, want open", s)
	}
	clock.Advance(500 * time.Millisecond)
	if u, _ := c.Pick(&PickInput{Tried: 0b10}); u != nil {
		t.Fatalf("the reopened circuit must wait a full sample_interval")
	}
}

func TestCircuitBreakerWindow(t *testing.T) {
	c, clock, _ := circuitSetup(t)
	a := &c.Upstreams()[0]
	c.Report(a, false, 0)
	c.Report(a, false, 0)
	clock.Advance(1001 * time.Millisecond) // a new sample window starts
	c.Report(a, false, 0)
	c.Report(a, false, 0)
	if s := a.State().Circuit(); s != CircuitClosed {
		t.Fatalf("2+2 errors in two windows: %s, want closed", s)
	}
	c.Report(a, false, 0)
	if s := a.State().Circuit(); s != CircuitOpen {
		t.Fatalf("3 errors in one window: %s, want open", s)
	}
}

func TestCircuitBreakerLostTrial(t *testing.T) {
	c, clock, _ := circuitSetup(t)
	a := &c.Upstreams()[0]
	for range 3 {
		c.Report(a, false, 0)
	}
	clock.Advance(time.Second)
	if u, _ := c.Pick(&PickInput{Tried: 0b10}); u != a {
		t.Fatalf("want the trial on a")
	}
	// The trial never reports (request cancelled); after another interval a new trial goes.
	clock.Advance(time.Second)
	if u, _ := c.Pick(&PickInput{Tried: 0b10}); u != a {
		t.Fatalf("a lost trial must not eject the target for ever")
	}
}

func TestCircuitBreakerDisabled(t *testing.T) {
	tab := mustCompile(t, `[{"id":"r","frontend":{"domains":["h.com"]},"backend":{"client":{"max_errors":0},
	 "targets":[{"hostname":"127.0.0.1","port":1}]}}]`, CompileOptions{})
	c := tab.Route("r")
	for range 100 {
		c.Report(&c.Upstreams()[0], false, 0)
	}
	if u, _ := c.Pick(nil); u == nil {
		t.Fatalf("max_errors 0 disables the breaker, yet the target was ejected")
	}
}
