package route

import (
	"sync"
	"sync/atomic"
	"time"
)

// cacheLine is the size the padded counters are rounded to, so that counters written by
// different event loops do not share a cache line.
const cacheLine = 64

// Registry holds the runtime state of targets, keyed by a stable key made of the route id,
// the target id and the resolved address (Upstream.Key). It outlives table snapshots: pass
// the same Registry to every Compile so that health, circuit breakers, latency averages and
// in-flight counts survive a reload. States are created by Compile (off the hot path); the
// hot path only does atomic operations on states that already exist.
type Registry struct {
	// Now is the clock used by circuit breakers; nil means time.Now. Tests inject a fake
	// clock here. Set it before the first Compile and never change it afterwards.
	Now func() time.Time
	// OnEvent, when set, receives circuit-breaker and health transitions. It is called
	// synchronously from the goroutine that caused the transition, which may be an event
	// loop: it must be cheap and must not block (hand the event to a channel or a buffer).
	// Set it before the first Compile and never change it afterwards.
	OnEvent func(Event)

	mu     sync.Mutex
	states map[string]*TargetState
	// byRoute holds the keys of states by TargetState.RouteID, for PruneRoutes.
	byRoute map[string]map[string]bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{states: make(map[string]*TargetState)}
}

func (r *Registry) now() int64 {
	if r.Now != nil {
		return r.Now().UnixNano()
	}
	return time.Now().UnixNano()
}

func (r *Registry) emit(ev Event) {
	if r.OnEvent != nil {
		if ev.Time.IsZero() {
			ev.Time = time.Unix(0, r.now())
		}
		r.OnEvent(ev)
	}
}

// state returns the state for key, creating it. Compile calls it; never the hot path.
func (r *Registry) state(key, routeID, targetID string) *TargetState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.states == nil {
		r.states = make(map[string]*TargetState)
	}
	st := r.states[key]
	if st == nil {
		st = &TargetState{Key: key, RouteID: routeID, TargetID: targetID, reg: r}
		r.states[key] = st
		if r.byRoute == nil {
			r.byRoute = make(map[string]map[string]bool)
		}
		if r.byRoute[routeID] == nil {
			r.byRoute[routeID] = make(map[string]bool, 1)
		}
		r.byRoute[routeID][key] = true
	}
	return st
}

// Lookup returns the state stored under key (an Upstream.Key), or nil.
// It is safe from any goroutine but takes a lock: keep it off the hot path.
func (r *Registry) Lookup(key string) *TargetState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.states[key]
}

// Prune drops the states of targets that t no longer has, so that removed targets do not
// leak. Call it after t was published; in-flight requests that still hold an Upstream of an
// older table keep working on the dropped state, which is simply no longer shared.
func (r *Registry) Prune(t *Table) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, st := range r.states {
		if t == nil || !t.HasTarget(k) {
			r.drop(st)
		}
	}
}

// PruneRoutes is Prune for a table that differs from the last one pruned by the routes
// ids only (added, replaced or deleted): it drops the states of those routes (their
// canary targets included) that t no longer has, in O(their targets) whatever the size
// of t.
func (r *Registry) PruneRoutes(t *Table, ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		for _, rid := range [2]string{id, id + canarySuffix} {
			for k := range r.byRoute[rid] {
				if t == nil || !t.HasTarget(k) {
					r.drop(r.states[k])
				}
			}
		}
	}
}

// drop forgets st. r.mu is held.
func (r *Registry) drop(st *TargetState) {
	delete(r.states, st.Key)
	keys := r.byRoute[st.RouteID]
	delete(keys, st.Key)
	if len(keys) == 0 {
		delete(r.byRoute, st.RouteID)
	}
}

// Len returns the number of target states held.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.states)
}

// CircuitState is the state of a (route, target) circuit breaker.
type CircuitState uint32

// The circuit breaker states.
const (
	CircuitClosed   CircuitState = iota // requests flow
	CircuitOpen                         // target skipped until sample_interval has passed
	CircuitHalfOpen                     // one trial request is in flight
)

// String returns the state name.
func (s CircuitState) String() string {
	switch s {
	case CircuitClosed:
		return "closed"
	case CircuitOpen:
		return "open"
	case CircuitHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// TargetState is the runtime state of one target of one route. All methods are safe from
// any goroutine and do not allocate.
type TargetState struct {
	Key, RouteID, TargetID string
	reg                    *Registry

	_        [cacheLine]byte
	inflight atomic.Int64 // written by every loop that proxies to the target
	_        [cacheLine - 8]byte
	ewma     atomic.Int64 // latency EWMA in nanoseconds, 0 before the first sample
	_        [cacheLine - 8]byte

	unhealthy   atomic.Bool   // set by the active health checker
	circuit     atomic.Uint32 // CircuitState
	failures    atomic.Int64  // failures in the current sample window
	windowStart atomic.Int64  // unix ns
	openedAt    atomic.Int64  // unix ns, when the circuit last opened
	trialAt     atomic.Int64  // unix ns, when the half-open trial was handed out
	_           [cacheLine]byte
}

// InFlight returns the number of requests currently sent to the target through any route
// table that shares this state.
func (s *TargetState) InFlight() int64 { return s.inflight.Load() }

// Latency returns the exponentially weighted moving average of successful response times,
// or 0 before the first sample.
func (s *TargetState) Latency() time.Duration { return time.Duration(s.ewma.Load()) }

// Healthy reports the last active health check result (true until a check says otherwise).
func (s *TargetState) Healthy() bool { return !s.unhealthy.Load() }

// Circuit returns the circuit breaker state.
func (s *TargetState) Circuit() CircuitState { return CircuitState(s.circuit.Load()) }

// ewmaShift sets the EWMA weight of a new sample to 1/2^ewmaShift (here 1/4).
const ewmaShift = 2

func (s *TargetState) observe(latency time.Duration) {
	ns := int64(latency)
	if ns <= 0 {
		ns = 1
	}
	for {
		old := s.ewma.Load()
		next := ns
		if old != 0 {
			next = old + (ns-old)>>ewmaShift
			if next <= 0 {
				next = 1
			}
		}
		if s.ewma.CompareAndSwap(old, next) {
			return
		}
	}
}

// setHealthy records an active health check result and reports a transition.
func (s *TargetState) setHealthy(ok bool, detail string) {
	if s.unhealthy.Swap(!ok) == !ok {
		return
	}
	kind := EventTargetUp
	if !ok {
		kind = EventTargetDown
	}
	s.reg.emit(Event{Kind: kind, Key: s.Key, RouteID: s.RouteID, TargetID: s.TargetID, Detail: detail})
}

// usable reports whether a request may be sent to the target now, without reserving the
// half-open trial (see acquire). now is read only when the circuit is not closed.
func (s *TargetState) usable(interval int64) bool {
	if s.unhealthy.Load() {
		return false
	}
	switch CircuitState(s.circuit.Load()) {
	case CircuitClosed:
		return true
	case CircuitOpen:
		return s.reg.now()-s.openedAt.Load() >= interval
	default: // half-open: a trial is out; hand out another only if it never reported
		return s.reg.now()-s.trialAt.Load() >= interval
	}
}

// acquire reserves the right to send a request to a target that usable accepted: always
// for a closed circuit, the single trial for a circuit that may go half-open.
func (s *TargetState) acquire(interval int64) bool {
	switch CircuitState(s.circuit.Load()) {
	case CircuitClosed:
		return true
	case CircuitOpen:
		now := s.reg.now()
		if now-s.openedAt.Load() < interval {
			return false
		}
		s.trialAt.Store(now)
		if !s.circuit.CompareAndSwap(uint32(CircuitOpen), uint32(CircuitHalfOpen)) {
			return false
		}
		s.reg.emit(Event{Kind: EventCircuitHalfOpen, Key: s.Key, RouteID: s.RouteID, TargetID: s.TargetID})
		return true
	default:
		now := s.reg.now()
		old := s.trialAt.Load()
		return now-old >= interval && s.trialAt.CompareAndSwap(old, now)
	}
}

// success records a good response: a half-open circuit closes.
func (s *TargetState) success() {
	if CircuitState(s.circuit.Load()) != CircuitHalfOpen {
		return
	}
	now := s.reg.now()
	s.failures.Store(0)
	s.windowStart.Store(now)
	if s.circuit.CompareAndSwap(uint32(CircuitHalfOpen), uint32(CircuitClosed)) {
		s.reg.emit(Event{Kind: EventCircuitClosed, Key: s.Key, RouteID: s.RouteID, TargetID: s.TargetID})
	}
}

// failure records a failed call. A closed circuit opens once maxErrors failures fall in one
// sample window; a failed half-open trial opens it again. maxErrors <= 0 disables the breaker.
func (s *TargetState) failure(maxErrors int, interval int64) {
	if maxErrors <= 0 {
		return
	}
	now := s.reg.now()
	switch CircuitState(s.circuit.Load()) {
	case CircuitClosed:
		ws := s.windowStart.Load()
		if now-ws >= interval && s.windowStart.CompareAndSwap(ws, now) {
			s.failures.Store(0)
		}
		if s.failures.Add(1) < int64(maxErrors) {
			return
		}
		s.openedAt.Store(now)
		if s.circuit.CompareAndSwap(uint32(CircuitClosed), uint32(CircuitOpen)) {
			s.reg.emit(Event{Kind: EventCircuitOpened, Key: s.Key, RouteID: s.RouteID, TargetID: s.TargetID})
		}
	case CircuitHalfOpen:
		s.openedAt.Store(now)
		if s.circuit.CompareAndSwap(uint32(CircuitHalfOpen), uint32(CircuitOpen)) {
			s.reg.emit(Event{Kind: EventCircuitOpened, Key: s.Key, RouteID: s.RouteID, TargetID: s.TargetID, Detail: "half-open trial failed"})
		}
	}
}

// EventKind names a runtime transition.
type EventKind uint8

// The transitions the registry reports.
const (
	EventCircuitOpened   EventKind = iota + 1 // max_errors failures in a sample window, or a failed trial
	EventCircuitHalfOpen                      // sample_interval passed; one trial request allowed
	EventCircuitClosed                        // the trial succeeded
	EventTargetDown                           // an active health check failed
	EventTargetUp                             // an active health check passed again
)

// String returns a stable name for the kind, usable in alerts.
func (k EventKind) String() string {
	switch k {
	case EventCircuitOpened:
		return "CircuitBreakerOpened"
	case EventCircuitHalfOpen:
		return "CircuitBreakerHalfOpen"
	case EventCircuitClosed:
		return "CircuitBreakerClosed"
	case EventTargetDown:
		return "TargetUnhealthy"
	case EventTargetUp:
		return "TargetHealthy"
	}
	return "Unknown"
}

// Event is a runtime transition of a target, handed to Registry.OnEvent.
type Event struct {
	Kind              EventKind
	Key               string // Upstream.Key
	RouteID, TargetID string
	Time              time.Time
	Detail            string
}
