package quota

import (
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // the DST tests must not depend on the machine's zoneinfo
	"unsafe"
)

var unlimited = Limits{Throttle: Unlimited, Daily: Unlimited, Monthly: Unlimited}

func TestTakeExactUnderConcurrency(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	c := New(Options{})
	lim := Limits{Throttle: 1000, Daily: Unlimited, Monthly: Unlimited}
	now := time.Date(2026, 3, 10, 12, 0, 1, 0, time.UTC) // 1 s into a 10 s window

	const workers, perWorker = 4, 1500
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range perWorker {
				// Spread calls over the first 8 s of the window.
				at := now.Add(time.Duration(w*perWorker+i) * time.Millisecond)
				ok, _, _ := c.Take("key", lim, at)
				if ok {
					accepted.Add(1)
				} else {
					refused.Add(1)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := accepted.Load(); got != 1000 {
		t.Fatalf("accepted %d calls in one window, want exactly 1000", got)
	}
	if got := refused.Load(); got != workers*perWorker-1000 {
		t.Fatalf("refused %d calls, want %d", got, workers*perWorker-1000)
	}
	u := c.Usage("key", lim, now)
	if u.ThrottlingCallsPerWindow != 1000 || u.RemainingCallsPerWindow != 0 || u.CurrentCallsPerDay != 1000 {
		t.Fatalf("usage after the burst: %+v", u)
	}
	// The next window starts fresh.
	if ok, rem, _ := c.Take("key", lim, now.Add(9*time.Second)); !ok || rem.Throttle != 999 {
		t.Fatalf("first call of the next window: ok=%v rem=%+v", ok, rem)
	}
}

func TestTakeRefusalIsNotCounted(t *testing.T) {
	c := New(Options{Shards: 1})
	lim := Limits{Throttle: 2, Daily: 3, Monthly: Unlimited}
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	f := func(at time.Time, wantOK bool, wantRem Remaining, wantRetry time.Duration) {
		t.Helper()
		ok, rem, retry := c.Take("k", lim, at)
		if ok != wantOK || rem != wantRem || retry != wantRetry {
			t.Fatalf("Take at %v = %v %+v %v, want %v %+v %v", at, ok, rem, retry, wantOK, wantRem, wantRetry)
		}
	}
	f(now, true, Remaining{1, 2, Unlimited - 1}, 0)
	f(now.Add(time.Second), true, Remaining{0, 1, Unlimited - 2}, 0)
	// Throttle exhausted: retry when the 10 s window ends.
	f(now.Add(3*time.Second), false, Remaining{0, 1, Unlimited - 2}, 7*time.Second)
	f(now.Add(10*time.Second), true, Remaining{1, 0, Unlimited - 3}, 0)
	// Daily exhausted: retry at midnight, even though the throttle has room.
	f(now.Add(11*time.Second), false, Remaining{1, 0, Unlimited - 3}, 14*time.Hour-11*time.Second)
	// Next day.
	f(time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), true, Remaining{1, 2, Unlimited - 4}, 0)
}

func TestZeroQuotaRefusesEverything(t *testing.T) {
	c := New(Options{})
	now := time.Date(2026, 1, 31, 23, 59, 59, 0, time.UTC)
	ok, _, retry := c.Take("k", Limits{Throttle: Unlimited, Daily: Unlimited, Monthly: 0}, now)
	if ok || retry != time.Second {
		t.Fatalf("monthly quota 0: ok=%v retry=%v, want refused until the month ends in 1s", ok, retry)
	}
}

// take counts n calls at the given times and fails the test on a refusal.
func take(t *testing.T, c *Counters, id string, times ...time.Time) {
	t.Helper()
	for _, at := range times {
		if ok, _, _ := c.Take(id, unlimited, at); !ok {
			t.Fatalf("unlimited key refused at %v", at)
		}
	}
}

func TestCalendarRollover(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatalf("cannot load Europe/Paris: %v", err)
	}
	utc := time.UTC
	f := func(name string, loc *time.Location, calls []time.Time, at time.Time, wantDay, wantMonth int64) {
		t.Helper()
		c := New(Options{Location: loc})
		take(t, c, "k", calls...)
		u := c.Usage("k", unlimited, at)
		if u.CurrentCallsPerDay != wantDay || u.CurrentCallsPerMonth != wantMonth {
			t.Fatalf("%s: day=%d month=%d, want day=%d month=%d", name, u.CurrentCallsPerDay, u.CurrentCallsPerMonth, wantDay, wantMonth)
		}
	}
	d := func(loc *time.Location, y int, m time.Month, day, h, min int) time.Time {
		return time.Date(y, m, day, h, min, 0, 0, loc)
	}
	f("same day", utc, []time.Time{d(utc, 2026, 4, 7, 0, 0), d(utc, 2026, 4, 7, 23, 59)}, d(utc, 2026, 4, 7, 23, 59), 2, 2)
	f("midnight UTC", utc, []time.Time{d(utc, 2026, 4, 7, 23, 59)}, d(utc, 2026, 4, 8, 0, 0), 0, 1)
	f("month end 30 days", utc, []time.Time{d(utc, 2026, 4, 30, 23, 59)}, d(utc, 2026, 5, 1, 0, 0), 0, 0)
	f("month end 31 days", utc, []time.Time{d(utc, 2026, 1, 31, 12, 0)}, d(utc, 2026, 1, 31, 23, 59), 1, 1)
	f("leap day is its own day", utc, []time.Time{d(utc, 2028, 2, 28, 23, 0)}, d(utc, 2028, 2, 29, 1, 0), 0, 1)
	f("leap day then March", utc, []time.Time{d(utc, 2028, 2, 29, 23, 0)}, d(utc, 2028, 3, 1, 0, 0), 0, 0)
	f("december to january", utc, []time.Time{d(utc, 2026, 12, 31, 23, 59)}, d(utc, 2027, 1, 1, 0, 0), 0, 0)
	// 22:30 UTC on 31 March is already 1 April in Paris (UTC+2 in summer).
	f("zone decides the month", paris, []time.Time{d(utc, 2026, 3, 31, 21, 0)}, d(utc, 2026, 3, 31, 22, 30), 0, 0)
	f("zone, same local day", paris, []time.Time{d(utc, 2026, 3, 31, 20, 0)}, d(utc, 2026, 3, 31, 21, 30), 1, 1)
	// 29 March 2026 lasts 23 hours in Paris (clocks go 02:00 -> 03:00).
	f("DST spring day start", paris, []time.Time{d(paris, 2026, 3, 29, 0, 0)}, d(paris, 2026, 3, 29, 23, 59), 1, 1)
	f("DST spring day end", paris, []time.Time{d(paris, 2026, 3, 29, 23, 59)}, d(paris, 2026, 3, 30, 0, 0), 0, 1)
	// 25 October 2026 lasts 25 hours in Paris: 24 h after midnight is still that day.
	f("DST autumn 25h day", paris, []time.Time{d(paris, 2026, 10, 25, 0, 0)}, d(paris, 2026, 10, 25, 0, 0).Add(24*time.Hour+30*time.Minute), 1, 1)
	f("DST autumn next day", paris, []time.Time{d(paris, 2026, 10, 25, 0, 0)}, d(paris, 2026, 10, 26, 0, 0), 0, 1)
}

func TestRetryAfterAtMonthEnd(t *testing.T) {
	c := New(Options{})
	lim := Limits{Throttle: Unlimited, Daily: 5, Monthly: 1}
	now := time.Date(2028, 2, 28, 12, 0, 0, 0, time.UTC)
	take(t, c, "k", now)
	ok, rem, retry := c.Take("k", lim, now)
	if ok || rem.Monthly != 0 || rem.Daily != 4 {
		t.Fatalf("second call of the month: ok=%v rem=%+v", ok, rem)
	}
	if want := 36 * time.Hour; retry != want { // leap year: 29 February exists
		t.Fatalf("retry after %v, want %v", retry, want)
	}
}

func TestUsageJSONAndReset(t *testing.T) {
	c := New(Options{})
	lim := Limits{Throttle: 10, Daily: 100, Monthly: 1000}
	now := time.Date(2026, 6, 15, 8, 0, 0, 0, time.UTC)
	for range 3 {
		c.Take("k", lim, now)
	}
	b, err := json.Marshal(c.Usage("k", lim, now))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"authorizedCallsPerWindow":10,"throttlingCallsPerWindow":3,"remainingCallsPerWindow":7,` +
		`"authorizedCallsPerDay":100,"currentCallsPerDay":3,"remainingCallsPerDay":97,` +
		`"authorizedCallsPerMonth":1000,"currentCallsPerMonth":3,"remainingCallsPerMonth":997}`
	if string(b) != want {
		t.Fatalf("usage JSON\n got %s\nwant %s", b, want)
	}
	c.Reset("k")
	if u := c.Usage("k", lim, now); u.ThrottlingCallsPerWindow != 0 || u.CurrentCallsPerDay != 0 || u.CurrentCallsPerMonth != 0 {
		t.Fatalf("usage after reset: %+v", u)
	}
	if u := c.Usage("unknown", lim, now); u.RemainingCallsPerDay != 100 || u.CurrentCallsPerDay != 0 {
		t.Fatalf("usage of an unseen key: %+v", u)
	}
}

func TestKeysAreIndependent(t *testing.T) {
	c := New(Options{Shards: 2}) // few shards: keys share them
	lim := Limits{Throttle: 1, Daily: Unlimited, Monthly: Unlimited}
	now := time.Date(2026, 6, 15, 8, 0, 0, 0, time.UTC)
	for i := range 50 {
		id := string(rune('a'+i%26)) + string(rune('A'+i/26))
		if ok, _, _ := c.Take(id, lim, now); !ok {
			t.Fatalf("first call of %q refused", id)
		}
		if ok, _, _ := c.Take(id, lim, now); ok {
			t.Fatalf("second call of %q accepted", id)
		}
	}
}

func TestTakeCopiesClientID(t *testing.T) {
	c := New(Options{})
	buf := []byte("abc")
	now := time.Date(2026, 6, 15, 8, 0, 0, 0, time.UTC)
	c.Take(unsafe.String(&buf[0], len(buf)), unlimited, now) // aliases buf, as wire bytes would
	copy(buf, "xyz")
	if u := c.Usage("abc", unlimited, now); u.CurrentCallsPerDay != 1 {
		t.Fatalf("counts lost when the caller reused its buffer: %+v", u)
	}
}

func TestClockSkewAndStepBack(t *testing.T) {
	c := New(Options{})
	lim := Limits{Throttle: 2, Daily: 3, Monthly: Unlimited}
	midnight := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	take(t, c, "k", midnight.Add(time.Millisecond)) // the slot is now in the new day and window
	// A loop whose clock read was a hair earlier: counted in the new day, not
	// rolling the slot back (which would reset the new day's count).
	if ok, rem, _ := c.Take("k", lim, midnight.Add(-time.Millisecond)); !ok || rem.Daily != 1 || rem.Throttle != 0 {
		t.Fatalf("skewed call: ok=%v rem=%+v, want it counted in the current windows", ok, rem)
	}
	if ok, _, _ := c.Take("k", lim, midnight.Add(2*time.Millisecond)); ok {
		t.Fatal("throttle of 2 exceeded after a skewed call")
	}
	// The clock steps back an hour: windows restart instead of locking the key out.
	if ok, rem, _ := c.Take("k", lim, midnight.Add(-time.Hour)); !ok || rem.Throttle != 1 || rem.Daily != 2 {
		t.Fatalf("after a clock step back: ok=%v rem=%+v", ok, rem)
	}
}

func TestPadding(t *testing.T) {
	if n := unsafe.Sizeof(Slot{}); n != cacheLine {
		t.Fatalf("Slot is %d bytes, want one %d-byte cache line", n, cacheLine)
	}
	if n := unsafe.Sizeof(shard{}); n != cacheLine {
		t.Fatalf("shard is %d bytes, want %d", n, cacheLine)
	}
	if n := unsafe.Sizeof(calendar{}); n != cacheLine {
		t.Fatalf("calendar is %d bytes, want %d", n, cacheLine)
	}
	if n := unsafe.Sizeof(Counters{}); n != cacheLine {
		t.Fatalf("Counters is %d bytes, want %d", n, cacheLine)
	}
	c := New(Options{})
	if p := uintptr(unsafe.Pointer(c)); p%cacheLine != 0 {
		t.Fatalf("Counters at %#x is not cache-line aligned", p)
	}
	c.Take("a", Limits{Throttle: 1, Daily: 1, Monthly: 1}, time.Now())
	if p := uintptr(unsafe.Pointer(c.cal.Load())); p%cacheLine != 0 {
		t.Fatalf("calendar at %#x is not cache-line aligned", p)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if p := uintptr(unsafe.Pointer(c.Slot(id))); p%cacheLine != 0 {
			t.Fatalf("slot of %q at %#x is not cache-line aligned", id, p)
		}
	}
}

func TestFloorDiv(t *testing.T) {
	f := func(a, b, want int64) {
		t.Helper()
		if got := floorDiv(a, b); got != want {
			t.Fatalf("floorDiv(%d, %d) = %d, want %d", a, b, got, want)
		}
	}
	f(0, 10, 0)
	f(9, 10, 0)
	f(10, 10, 1)
	f(-1, 10, -1)
	f(-10, 10, -1)
	f(-11, 10, -2)
}

// TestRetryAfterOfSkewedCall: a call stamped just before midnight that lands
// in a slot already rolled to the new day is refused by the new day's count,
// so it must wait for the end of the new day, not of the old one.
func TestRetryAfterOfSkewedCall(t *testing.T) {
	f := func(lim Limits, first, skewed time.Time, want time.Duration) {
		t.Helper()
		c := New(Options{})
		take(t, c, "k", first)
		ok, _, retry := c.Take("k", lim, skewed)
		if ok || retry != want {
			t.Fatalf("skewed call at %v: ok=%v retry=%v, want refused, retry %v", skewed, ok, retry, want)
		}
	}
	midnight := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	f(Limits{Throttle: Unlimited, Daily: 1, Monthly: Unlimited}, midnight.Add(ms), midnight.Add(-ms), 24*time.Hour+ms)
	f(Limits{Throttle: Unlimited, Daily: Unlimited, Monthly: 1}, midnight.Add(ms), midnight.Add(-ms), 31*24*time.Hour+ms)
	f(Limits{Throttle: 1, Daily: Unlimited, Monthly: Unlimited}, midnight.Add(ms), midnight.Add(-ms), ThrottleWindow+ms)
}
