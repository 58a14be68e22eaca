package quota

import (
	"net/netip"
	"time"
)

// The gateway-wide throttles in cluster mode: with UseGlobal, Gateway and PerIP count in
// Counters with a global (EnableGlobal) under reserved client ids, so they spend Redis leases
// like API keys and the throttle holds for the whole cluster. Their Take may then answer
// Pending (see TakeSlot); the caller waits with Counters.Wait(GatewayKey or IPKey(a)).

// GatewayKey is the client id of the gateway-wide throttling count in cluster mode. It cannot
// collide with an API key: client ids never contain a space.
const GatewayKey = "torii gateway"

// IPKey is the client id of one address's throttling count in cluster mode. It allocates.
func IPKey(a netip.Addr) string { return "torii ip " + a.String() }

// UseGlobal makes g count in c, cluster-wide, when c has a global. Call it before the first
// Take.
func (g *Gateway) UseGlobal(c *Counters) {
	if c != nil && c.global != nil {
		g.global = c
	}
}

// UseGlobal makes l count in c, cluster-wide, when c has a global. Call it before the first
// Take.
func (l *PerIP) UseGlobal(c *Counters) {
	if c != nil && c.global != nil {
		l.global = c
	}
}

// takeGlobal is Take in cluster mode: one slot per address in the global counters (allocated
// once per address, kept like an API key's).
func (l *PerIP) takeGlobal(a netip.Addr, perSecond int64, now time.Time) (bool, time.Duration) {
	lim := Limits{Throttle: perSecond * int64(ThrottleWindow/time.Second), Daily: Unlimited, Monthly: Unlimited}
	ok, _, retry := l.global.Take(IPKey(a), lim, now)
	return ok, retry
}

// Global reports whether c counts cluster-wide (EnableGlobal).
func (c *Counters) Global() bool { return c.global != nil }
