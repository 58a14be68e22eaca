package auth

import (
	"sync"
	"time"
)

// Brute-force protection of the login form, with the admin key's numbers:
// a client address, or a user name, that failed failureLimit times in one
// failureWindow gets 429 on every try, right or wrong, until the window
// ends. Counting user names too stops one slow guess per address from
// many addresses against one account.
const (
	failureLimit  = 10
	failureWindow = 5 * time.Minute
	// maxThrottled bounds the table; past it the entry whose window ends
	// first is dropped, so rotating addresses cannot grow it without end.
	maxThrottled = 4096
)

type failures struct {
	n     int
	until time.Time
}

// throttle counts login failures by key. Safe for concurrent use.
type throttle struct {
	mu sync.Mutex
	m  map[string]failures
}

// blocked reports whether any of keys used up its failures, and until when.
func (t *throttle) blocked(now time.Time, keys ...string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if f, ok := t.m[k]; ok && now.Before(f.until) && f.n >= failureLimit {
			return f.until.Sub(now), true
		}
	}
	return 0, false
}

// fail counts one failure against each of keys.
func (t *throttle) fail(now time.Time, keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string]failures)
	}
	for _, k := range keys {
		f, ok := t.m[k]
		if !ok || !now.Before(f.until) {
			if !ok && len(t.m) >= maxThrottled {
				t.evict(now)
			}
			f = failures{until: now.Add(failureWindow)}
		}
		f.n++
		t.m[k] = f
	}
}

// evict drops ended windows, or else the one that ends first.
func (t *throttle) evict(now time.Time) {
	var first string
	var at time.Time
	for k, f := range t.m {
		if !now.Before(f.until) {
			delete(t.m, k)
			continue
		}
		if first == "" || f.until.Before(at) {
			first, at = k, f.until
		}
	}
	if len(t.m) >= maxThrottled && first != "" {
		delete(t.m, first)
	}
}
