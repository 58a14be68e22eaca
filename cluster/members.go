package cluster

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/torii-gateway/torii/core/metric"
)

var (
	metricStateBuilt  = metrics.NewCounter("torii_cluster_states_built_total")
	metricStateServed = metrics.NewCounter("torii_cluster_states_served_total")
	metricRefused     = metrics.NewCounter("torii_cluster_requests_refused_total")
)

// MemberTimeout is how long a member stays "up" without calling the leader: a worker long-polls
// at most MaxWait and pushes its counts every PushEvery, so three missed calls.
const MemberTimeout = 3 * MaxWait

// memberForget is how long a silent member stays listed (as down) before it is dropped.
const memberForget = 10 * time.Minute

// Member is one worker as the leader last saw it, in the shape of Otoroshi's MemberView
// (id, name, version, location, httpPort, lastSeen, timeout, type) plus Torii's fields.
type Member struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Location string `json:"location"`
	HTTPPort int    `json:"httpPort"`
	// Address is where the leader saw the call come from.
	Address  string `json:"address"`
	LastSeen int64  `json:"lastSeen"` // Unix ms
	Timeout  int64  `json:"timeout"`  // ms
	Type     string `json:"type"`     // "Worker"
	// Health is green (seen within half the timeout), orange, or red (past the timeout).
	Health string `json:"health"`
	// StateFrom is the X-Data-From of the state the worker serves (Unix ms, 0: none yet);
	// StateAgeMs is how old that was when the worker last called.
	StateFrom  int64 `json:"stateFrom"`
	StateAgeMs int64 `json:"stateAgeMs"`
	// Leases is the number of quota calls the worker holds from Redis and has not spent;
	// RedisCalls the Redis round trips it made; Redis is "up", "down" or "off".
	Leases     int64  `json:"leases"`
	RedisCalls int64  `json:"redisCalls"`
	Redis      string `json:"redis"`
}

type members struct {
	mu sync.Mutex
	m  map[string]*Member
	// alert, when set, is called (without the lock) when a member's Redis becomes
	// unreachable or reachable again.
	alert func(name string, fields map[string]any)
}

// Alert names of the cluster, as AlertEvent "alert" values.
const (
	AlertRedisDown = "QuotaRedisUnreachableAlert"
	AlertRedisUp   = "QuotaRedisReachableAlert"
)

// OnAlert sets the function that publishes cluster alerts (a member's Redis going down or up).
// Call it before serving.
func (l *Leader) OnAlert(fn func(name string, fields map[string]any)) { l.members.alert = fn }

func (ms *members) init() { ms.m = make(map[string]*Member) }

// seen records a call from a worker (identified by its Otoroshi-Worker-* headers; calls without
// Otoroshi-Worker-Name, a script for example, register nothing).
func (ms *members) seen(r *http.Request, now time.Time) {
	h := r.Header
	name := h.Get(HeaderWorkerName)
	if name == "" {
		return
	}
	id := h.Get(HeaderWorkerID)
	if id == "" {
		id = name
	}
	num := func(k string) int64 { n, _ := strconv.ParseInt(h.Get(k), 10, 64); return n }
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	m := &Member{ID: id, Name: name, Version: h.Get(HeaderWorkerVersion), Location: h.Get(HeaderWorkerLocation),
		HTTPPort: int(num(HeaderWorkerHTTPPort)), Address: host, LastSeen: now.UnixMilli(),
		Timeout: MemberTimeout.Milliseconds(), Type: "Worker", StateFrom: num(HeaderWorkerStateFrom),
		Leases: num(HeaderWorkerLeases), RedisCalls: num(HeaderWorkerRedisOps), Redis: h.Get(HeaderWorkerRedis)}
	if m.StateFrom > 0 {
		m.StateAgeMs = max(now.UnixMilli()-m.StateFrom, 0)
	}
	ms.mu.Lock()
	prev := ms.m[id]
	ms.m[id] = m
	ms.mu.Unlock()
	if ms.alert == nil || (prev == nil && m.Redis != "down") || (prev != nil && prev.Redis == m.Redis) {
		return
	}
	fields := map[string]any{"member": m.Name, "memberId": m.ID, "address": m.Address, "at": m.LastSeen}
	switch m.Redis {
	case "down":
		ms.alert(AlertRedisDown, fields)
	case "up":
		if prev != nil && prev.Redis == "down" {
			ms.alert(AlertRedisUp, fields)
		}
	}
}

// alive counts the members seen within MemberTimeout.
func (ms *members) alive(now time.Time) int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	n := 0
	for _, m := range ms.m {
		if now.UnixMilli()-m.LastSeen < m.Timeout {
			n++
		}
	}
	return n
}

// list returns the members by name, with their health as of now; members silent for
// memberForget are dropped.
func (ms *members) list(now time.Time) []Member {
	ms.mu.Lock()
	out := make([]Member, 0, len(ms.m))
	for id, m := range ms.m {
		silent := now.UnixMilli() - m.LastSeen
		if silent > memberForget.Milliseconds() {
			delete(ms.m, id)
			continue
		}
		c := *m
		switch {
		case silent < c.Timeout/2:
			c.Health = "green"
		case silent < c.Timeout:
			c.Health = "orange"
		default:
			c.Health = "red"
		}
		out = append(out, c)
	}
	ms.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	return out
}

// Members returns the workers the leader has seen, by name.
func (l *Leader) Members() []Member { return l.members.list(time.Now()) }

// RegisterMetrics adds the cluster families to set: per member (name, address, version) the
// seconds since it was last seen, the age of its state, its unspent leases and whether its
// Redis is reachable (1 up, 0 down, -1 not used).
func (l *Leader) RegisterMetrics(set *metric.Set) {
	labels := []string{"name", "address", "version"}
	each := func(f func(m Member) float64) func(emit func(float64, ...string)) {
		return func(emit func(float64, ...string)) {
			for _, m := range l.Members() {
				emit(f(m), m.Name, net.JoinHostPort(m.Address, strconv.Itoa(m.HTTPPort)), m.Version)
			}
		}
	}
	set.GaugeVecFunc("torii_cluster_member_last_seen_seconds", "seconds since the member last called the leader", labels,
		each(func(m Member) float64 { return float64(time.Now().UnixMilli()-m.LastSeen) / 1000 }))
	set.GaugeVecFunc("torii_cluster_member_state_age_seconds", "age of the state the member serves, when it last called", labels,
		each(func(m Member) float64 { return float64(m.StateAgeMs) / 1000 }))
	set.GaugeVecFunc("torii_cluster_member_quota_leases", "quota calls leased from Redis and not yet spent by the member", labels,
		each(func(m Member) float64 { return float64(m.Leases) }))
	set.GaugeVecFunc("torii_cluster_member_redis_up", "1: the member reaches Redis, 0: it does not, -1: it does not use Redis", labels,
		each(func(m Member) float64 {
			switch m.Redis {
			case "up":
				return 1
			case "down":
				return 0
			}
			return -1
		}))
	set.GaugeFunc("torii_cluster_members", func() float64 { return float64(len(l.Members())) })
}
