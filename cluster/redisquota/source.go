package redisquota

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/torii-gateway/torii/core/quota"
)

// leaseScript grants at most what remains in every leased window (see package doc).
// KEYS[1..3]: throttling, day and month counters. ARGV[1..3]: their limits (-1: the window is
// not leased); ARGV[4..6]: their expiry, Unix ms; ARGV[7]: calls wanted; ARGV[8]: calls owed
// (admitted without a lease, counted first, unconditionally); ARGV[9]: divisor (a grant is at
// most max(1, remaining / divisor)). Returns {granted, left per window (-1: not leased)}.
const leaseScript = `
local want = tonumber(ARGV[7])
local owed = tonumber(ARGV[8])
local div = tonumber(ARGV[9])
local used = {0, 0, 0}
local grant = want
for i = 1, 3 do
  local lim = tonumber(ARGV[i])
  if lim >= 0 then
    local u = tonumber(redis.call('GET', KEYS[i]) or '0') + owed
    used[i] = u
    local rem = lim - u
    if rem < 0 then rem = 0 end
    local cap = math.floor(rem / div)
    if cap < 1 then cap = math.min(rem, 1) end
    if grant > cap then grant = cap end
  end
end
local out = {grant, -1, -1, -1}
for i = 1, 3 do
  local lim = tonumber(ARGV[i])
  if lim >= 0 then
    local add = owed + grant
    if add > 0 then
      redis.call('INCRBY', KEYS[i], add)
      redis.call('PEXPIREAT', KEYS[i], ARGV[3 + i])
    end
    local left = lim - used[i] - grant
    if left < 0 then left = 0 end
    out[i + 1] = left
  end
end
return out
`

// returnScript gives back ARGV[1] calls to each counter of KEYS, never below zero.
const returnScript = `
local n = tonumber(ARGV[1])
for i = 1, #KEYS do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  local d = math.min(v, n)
  if d > 0 then redis.call('DECRBY', KEYS[i], d) end
end
return 0
`

// expirySlack keeps a window's counter a minute past the window's end (clock skew between
// workers).
const expirySlack = time.Minute

// Source is the Redis lease source. Create it with New; Close releases the connections.
type Source struct {
	addr  string
	lease *rueidis.Lua
	ret   *rueidis.Lua

	mu     sync.Mutex
	client rueidis.Client
}

// New returns a source for the Redis at addr (host:port, or a redis:// URL). It does not
// connect: the first call does.
func New(addr string) (*Source, error) {
	if rest, ok := strings.CutPrefix(addr, "redis://"); ok {
		addr = strings.TrimSuffix(rest, "/")
	}
	if addr == "" || !strings.Contains(addr, ":") {
		return nil, fmt.Errorf("--redis must be host:port, not %q", addr)
	}
	return &Source{addr: addr, lease: rueidis.NewLuaScript(leaseScript), ret: rueidis.NewLuaScript(returnScript)}, nil
}

// Addr returns the Redis address.
func (s *Source) Addr() string { return s.addr }

// conn returns the client, connecting when there is none.
func (s *Source) conn() (rueidis.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:      []string{s.addr},
		DisableCache:     true,
		ConnWriteTimeout: time.Second,
		Dialer:           netDialer(),
		DisableRetry:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot connect to Redis at %s: %w", s.addr, err)
	}
	s.client = c
	return c, nil
}

// Lease runs the lease script of every request in one pipelined round trip.
func (s *Source) Lease(ctx context.Context, reqs []quota.LeaseRequest, out []quota.LeaseGrant) error {
	c, err := s.conn()
	if err != nil {
		return err
	}
	execs := make([]rueidis.LuaExec, len(reqs))
	for i, r := range reqs {
		execs[i] = rueidis.LuaExec{Keys: keys(r.Key, r.Win, r.Day, r.Month), Args: leaseArgs(r)}
	}
	for i, res := range s.lease.ExecMulti(ctx, c, execs...) {
		vals, err := res.AsIntSlice()
		if err != nil {
			return fmt.Errorf("cannot lease quota calls from Redis: %w", err)
		}
		if len(vals) != 4 {
			return fmt.Errorf("the lease script answered %d values, want 4", len(vals))
		}
		out[i] = quota.LeaseGrant{Granted: vals[0], Left: quota.Remaining{Throttle: vals[1], Daily: vals[2], Monthly: vals[3]}}
	}
	return nil
}

// Return gives back unspent calls, one pipelined round trip.
func (s *Source) Return(ctx context.Context, rets []quota.LeaseReturn) error {
	c, err := s.conn()
	if err != nil {
		return err
	}
	execs := make([]rueidis.LuaExec, 0, len(rets))
	for _, r := range rets {
		var ks []string
		if r.Win != 0 {
			ks = append(ks, windowKey(r.Key, "w", r.Win))
		}
		if r.Day != 0 {
			ks = append(ks, windowKey(r.Key, "d", r.Day))
		}
		if r.Month != 0 {
			ks = append(ks, windowKey(r.Key, "m", r.Month))
		}
		if len(ks) == 0 || r.N <= 0 {
			continue
		}
		execs = append(execs, rueidis.LuaExec{Keys: ks, Args: []string{strconv.FormatInt(r.N, 10)}})
	}
	if len(execs) == 0 {
		return nil
	}
	var errs []error
	for _, res := range s.ret.ExecMulti(ctx, c, execs...) {
		if err := res.Error(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cannot return quota calls to Redis: %w", errors.Join(errs...))
	}
	return nil
}

// Ping checks that Redis answers.
func (s *Source) Ping(ctx context.Context) error {
	c, err := s.conn()
	if err != nil {
		return err
	}
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redis at %s does not answer: %w", s.addr, err)
	}
	return nil
}

// Close closes the connections.
func (s *Source) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
}

// windowKey is the counter of one window: torii:q:{id}:<w|d|m>:<start ms>.
func windowKey(id, kind string, start int64) string {
	return "torii:q:{" + id + "}:" + kind + ":" + strconv.FormatInt(start/int64(time.Millisecond), 10)
}

// keys returns the three counters of a request (a placeholder in the key's slot for a window
// not leased: the script does not touch it).
func keys(id string, win, day, month int64) []string {
	return []string{windowKey(id, "w", win), windowKey(id, "d", day), windowKey(id, "m", month)}
}

func leaseArgs(r quota.LeaseRequest) []string {
	limit := func(start, lim int64) string {
		if start == 0 || lim >= quota.Unlimited {
			return "-1"
		}
		return strconv.FormatInt(lim, 10)
	}
	expiry := func(end int64) string {
		return strconv.FormatInt((end+int64(expirySlack))/int64(time.Millisecond), 10)
	}
	return []string{
		limit(r.Win, r.Lim.Throttle), limit(r.Day, r.Lim.Daily), limit(r.Month, r.Lim.Monthly),
		expiry(r.WinEnd), expiry(r.DayEnd), expiry(r.MonthEnd),
		strconv.FormatInt(r.Want, 10), strconv.FormatInt(r.Owed, 10), strconv.FormatInt(max(r.Div, 1), 10),
	}
}
