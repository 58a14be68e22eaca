package route

import (
	"math/bits"
	"net/netip"

	"github.com/cespare/xxhash/v2"
	"github.com/torii-gateway/torii/httpparse"
)

// Balancing is a load-balancing algorithm, named as Otoroshi names it.
type Balancing uint8

// The algorithms of `backend.load_balancing.type`. "Weighted" below means a target of
// weight w counts w times; the *Hash types and Sticky index the smooth weighted sequence,
// so equal keys go to the same target while the set of usable targets does not change.
const (
	RoundRobin               Balancing = iota // smooth weighted round-robin, one position per route
	Random                                    // weighted random
	Sticky                                    // hash of the otoroshi-tracking cookie, else of PickInput.Tracking, else RoundRobin
	IPAddressHash                             // hash of the client IP
	HeaderHash                                // hash of header_name's value; RoundRobin without it
	CookieHash                                // hash of cookie_name's value; RoundRobin without it
	QueryHash                                 // hash of query_name's raw value; RoundRobin without it
	BestResponseTime                          // lowest latency EWMA; targets never measured first
	WeightedBestResponseTime                  // BestResponseTime for a share ratio of picks, RoundRobin for the rest
	LeastConnections                          // fewest requests in flight per unit of weight; ties round-robin
	PowerOfTwoRandomChoices                   // fewer in flight of two distinct random targets (weights ignored)
	NaiveFailover                             // the first usable target in declaration order
)

var balancingNames = [...]string{
	RoundRobin:               "RoundRobin",
	Random:                   "Random",
	Sticky:                   "Sticky",
	IPAddressHash:            "IpAddressHash",
	HeaderHash:               "HeaderHash",
	CookieHash:               "CookieHash",
	QueryHash:                "QueryHash",
	BestResponseTime:         "BestResponseTime",
	WeightedBestResponseTime: "WeightedBestResponseTime",
	LeastConnections:         "LeastConnections",
	PowerOfTwoRandomChoices:  "PowerOfTwoRandomChoices",
	NaiveFailover:            "NaiveFailover",
}

// String returns Otoroshi's name for b.
func (b Balancing) String() string {
	if int(b) < len(balancingNames) {
		return balancingNames[b]
	}
	return "RoundRobin"
}

// parseBalancing maps an Otoroshi type name to a Balancing.
func parseBalancing(name string) (Balancing, bool) {
	for i, n := range balancingNames {
		if n == name {
			return Balancing(i), true
		}
	}
	return RoundRobin, false
}

// TrackingCookie is the cookie Sticky load balancing hashes (Otoroshi's name). When a
// request has none (see NeedsTracking), the engine makes up an id, passes it in
// PickInput.Tracking and sets the cookie on the response, so that the client sticks to
// the target chosen for that id.
const TrackingCookie = "otoroshi-tracking"

// MaxTargets is the most targets a route may have: PickInput.Tried is a 64-bit mask.
const MaxTargets = 64

// maxWeight bounds a target's weight: with MaxTargets targets the weight sums and the
// scaling in smoothSequence stay far from int overflow, which a crafted route would
// otherwise turn into a panic or a division by zero.
const maxWeight = 1_000_000

// maxSequence caps the length of the smooth weighted round-robin sequence; larger weight
// sums are scaled down proportionally (a target keeps at least one slot).
const maxSequence = 4096

// PickInput is what Pick may look at. Req and Buf are read during Pick only.
type PickInput struct {
	ClientIP netip.Addr
	Req      *httpparse.Request
	Buf      []byte
	Tried    uint64 // bit i set: target i was already tried (retries pick another one)
	// Tracking is the id the engine is about to set in the otoroshi-tracking cookie of a
	// request that has none; Sticky hashes it in place of the cookie.
	Tracking []byte
}

// NeedsTracking reports whether the route balances with Sticky and the request carries no
// otoroshi-tracking cookie: the engine should then make up an id for PickInput.Tracking
// and set the cookie. req and buf are only read during the call; 0 allocs.
func (c *Compiled) NeedsTracking(req *httpparse.Request, buf []byte) bool {
	if c.pool.lb != Sticky {
		return false
	}
	_, ok := cookieValue(req, buf, TrackingCookie)
	return !ok
}

// pool is the targets of one route and their load-balancing state, shared by the Compiled
// values of its domains.
type pool struct {
	ups      []Upstream
	primary  uint64  // targets with weight > 0 and not backup
	backup   uint64  // backup targets with weight > 0
	down     uint64  // targets that cannot take a request whatever their health (Upstream.Down)
	seq      []uint8 // smooth weighted round-robin order of the primaries
	bseq     []uint8 // same for the backups
	lb       Balancing
	key      string  // header, cookie or query name for the *Hash types
	ratio    float64 // WeightedBestResponseTime share of the best target
	interval int64   // client.sample_interval in ns
	hc       *HealthCheck

	rr  paddedUint64 // round-robin position
	rnd paddedUint64 // random generator state (splitmix64 counter)
}

// Pick chooses a target for one request attempt, skipping unhealthy targets, open circuits
// and the targets in in.Tried; backups are used only when no primary is left. It returns
// nil and -1 when no target is available (the engine answers 503). in may be nil. Safe
// from any goroutine; 0 allocs.
func (c *Compiled) Pick(in *PickInput) (*Upstream, int) {
	return pickFrom(c.pool, in)
}

func pickFrom(p *pool, in *PickInput) (*Upstream, int) {
	var tried uint64
	if in != nil {
		tried = in.Tried
	}
	for range len(p.ups) + 1 {
		seq := p.seq
		mask := p.usable(p.primary &^ tried &^ p.down)
		if mask == 0 {
			seq = p.bseq
			mask = p.usable(p.backup &^ tried &^ p.down)
		}
		if mask == 0 {
			return nil, -1
		}
		i := p.choose(in, mask, seq)
		u := &p.ups[i]
		if u.state.acquire(p.interval) {
			return u, i
		}
		tried |= 1 << i // lost the half-open trial to another loop
	}
	return nil, -1
}

// usable keeps the targets of m that may take a request now.
func (p *pool) usable(m uint64) uint64 {
	out := m
	for m != 0 {
		i := bits.TrailingZeros64(m)
		m &= m - 1
		if !p.ups[i].state.usable(p.interval) {
			out &^= 1 << i
		}
	}
	return out
}

// choose returns the index of one target of mask (non-empty), a subset of the targets
// that seq lists.
func (p *pool) choose(in *PickInput, mask uint64, seq []uint8) int {
	if mask&(mask-1) == 0 {
		return bits.TrailingZeros64(mask)
	}
	switch p.lb {
	case Random:
		return p.weightedRandom(mask)
	case Sticky, IPAddressHash, HeaderHash, CookieHash, QueryHash:
		if h, ok := p.hashKey(in); ok {
			return walk(seq, mask, h)
		}
	case BestResponseTime:
		return p.best(mask)
	case WeightedBestResponseTime:
		if float64(p.random()>>11)/(1<<53) < p.ratio {
			return p.best(mask)
		}
	case LeastConnections:
		return p.leastConnections(mask)
	case PowerOfTwoRandomChoices:
		return p.powerOfTwo(mask)
	case NaiveFailover:
		return bits.TrailingZeros64(mask)
	}
	return walk(seq, mask, p.rr.Add(1)-1)
}

// walk returns the first target of seq at or after position h (mod len(seq)) that is in
// mask. Skipping an unavailable target hands its turn to the next one in the sequence.
func walk(seq []uint8, mask uint64, h uint64) int {
	n := uint64(len(seq))
	start := h % n
	for k := uint64(0); k < n; k++ {
		j := start + k
		if j >= n {
			j -= n
		}
		if i := seq[j]; mask&(1<<i) != 0 {
			return int(i)
		}
	}
	return bits.TrailingZeros64(mask) // unreachable: mask ⊆ targets of seq
}

// random returns the next value of a splitmix64 generator (Steele, Lea, Flood 2014):
// lock-free, 0 allocs, deterministic for a given seed when used from one goroutine.
func (p *pool) random() uint64 {
	z := p.rnd.Add(0x9e3779b97f4a7c15)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (p *pool) weightedRandom(mask uint64) int {
	total := 0
	for m := mask; m != 0; m &= m - 1 {
		total += p.ups[bits.TrailingZeros64(m)].Weight
	}
	x := int(p.random() % uint64(total))
	for m := mask; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		x -= p.ups[i].Weight
		if x < 0 {
			return i
		}
	}
	return bits.TrailingZeros64(mask)
}

// best returns the target with the lowest latency EWMA; a target without samples comes
// first so that each one gets measured.
func (p *pool) best(mask uint64) int {
	bestI, bestL := -1, int64(0)
	for m := mask; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		l := p.ups[i].state.ewma.Load()
		if bestI < 0 || l < bestL {
			bestI, bestL = i, l
		}
	}
	return bestI
}

// leastConnections returns the target with the fewest in-flight requests per unit of
// weight; ties go round-robin.
func (p *pool) leastConnections(mask uint64) int {
	n := bits.OnesCount64(mask)
	skip := int(p.rr.Add(1) % uint64(n))
	// Rotate the scan start so that ties are spread.
	rot := mask
	for range skip {
		rot &= rot - 1
	}
	bestI := -1
	var bestIn int64
	bestW := 1
	scan := func(m uint64) {
		for ; m != 0; m &= m - 1 {
			i := bits.TrailingZeros64(m)
			in, w := p.ups[i].state.inflight.Load(), p.ups[i].Weight
			if bestI < 0 || in*int64(bestW) < bestIn*int64(w) {
				bestI, bestIn, bestW = i, in, w
			}
		}
	}
	scan(rot)
	scan(mask &^ rot)
	return bestI
}

// powerOfTwo draws two distinct targets at random and keeps the one with fewer requests
// in flight (Mitzenmacher's power of two choices).
func (p *pool) powerOfTwo(mask uint64) int {
	n := uint64(bits.OnesCount64(mask))
	r := p.random()
	a := r % n
	b := (a + 1 + (r>>32)%(n-1)) % n
	ia, ib := nthBit(mask, int(a)), nthBit(mask, int(b))
	if p.ups[ib].state.inflight.Load() < p.ups[ia].state.inflight.Load() {
		return ib
	}
	return ia
}

// nthBit returns the index of the n-th (0-based) set bit of m.
func nthBit(m uint64, n int) int {
	for range n {
		m &= m - 1
	}
	return bits.TrailingZeros64(m)
}

// hashKey hashes what the *Hash and Sticky algorithms key on; ok is false when the request
// does not carry it (the caller falls back to RoundRobin).
func (p *pool) hashKey(in *PickInput) (uint64, bool) {
	if in == nil {
		return 0, false
	}
	switch p.lb {
	case IPAddressHash:
		if !in.ClientIP.IsValid() {
			return 0, false
		}
		a := in.ClientIP.Unmap().As16()
		return xxhash.Sum64(a[:]), true
	case Sticky, CookieHash:
		if in.Req != nil {
			if v, ok := cookieValue(in.Req, in.Buf, p.key); ok {
				return xxhash.Sum64(v), true
			}
		}
		if p.lb == Sticky && len(in.Tracking) != 0 {
			return xxhash.Sum64(in.Tracking), true
		}
	case HeaderHash:
		if in.Req == nil {
			return 0, false
		}
		if v, ok := headerValue(in.Req, in.Buf, p.key); ok {
			return xxhash.Sum64(v), true
		}
	case QueryHash:
		if in.Req == nil {
			return 0, false
		}
		if v, ok := queryValue(in.Req.Query.Bytes(in.Buf), p.key); ok {
			return xxhash.Sum64(v), true
		}
	}
	return 0, false
}

// smoothSequence returns the order in which smooth weighted round-robin (as in nginx)
// visits the targets of mask: each step adds every weight to its running total, picks the
// largest total and subtracts the sum of weights from it. A target of weight w appears w
// times per cycle, interleaved with the others rather than in bursts.
func smoothSequence(ups []Upstream, mask uint64) []uint8 {
	if mask == 0 {
		return nil
	}
	w := make([]int, len(ups))
	sum, g := 0, 0
	for m := mask; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		w[i] = ups[i].Weight
		g = gcd(g, w[i])
	}
	for i := range w {
		w[i] /= g
		sum += w[i]
	}
	if sum > maxSequence {
		scaled := 0
		for i := range w {
			if w[i] > 0 {
				w[i] = max(1, w[i]*maxSequence/sum)
				scaled += w[i]
			}
		}
		sum = scaled
	}
	cur := make([]int, len(ups))
	seq := make([]uint8, 0, sum)
	for range sum {
		bestI := -1
		for i := range w {
			if w[i] == 0 {
				continue
			}
			cur[i] += w[i]
			if bestI < 0 || cur[i] > cur[bestI] {
				bestI = i
			}
		}
		cur[bestI] -= sum
		seq = append(seq, uint8(bestI))
	}
	return seq
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
