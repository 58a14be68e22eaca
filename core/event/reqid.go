package event

import (
	"strconv"
	"sync/atomic"
	"time"
)

// A request id is a 63-bit snowflake, sent in Otoroshi-Request-Id as decimal:
//
//	bit 63      : 0
//	bits 22..62 : milliseconds since IDEpoch (41 bits, about 69 years)
//	bits 12..21 : generator id (10 bits: one per event loop, up to 1024)
//	bits 0..11  : sequence within the millisecond (4096 per ms per generator)
//
// Ids of one generator strictly increase. When a generator issues more than
// 4096 ids in one millisecond, or the wall clock steps back, it borrows the
// next millisecond rather than repeat an id, so the time part can run ahead
// of the clock under extreme load.
const (
	idSeqBits  = 12
	idGenBits  = 10
	idTimeBits = 41
	idSeqMask  = 1<<idSeqBits - 1
	idGenMask  = 1<<idGenBits - 1
	// MaxGenerators is the number of distinct generator ids.
	MaxGenerators = 1 << idGenBits
)

// IDEpoch is the zero of the id time part: 2020-01-01T00:00:00Z in Unix milliseconds.
const IDEpoch = 1577836800000

// IDGen issues request ids for one event loop. It holds no lock and must be
// used by one goroutine at a time (its loop). The zero value is generator 0.
type IDGen struct {
	gen    uint64
	lastMs int64
	seq    uint64
}

// NewIDGen returns a generator whose ids carry generator id gen (taken modulo MaxGenerators).
func NewIDGen(gen int) *IDGen { return &IDGen{gen: uint64(gen) & idGenMask} }

// Next returns a fresh id for the wall-clock time nowMs (Unix milliseconds,
// typically the request's start time already read by the loop). 0 allocs.
func (g *IDGen) Next(nowMs int64) uint64 {
	if nowMs > g.lastMs {
		g.lastMs, g.seq = nowMs, 0
	} else if g.seq++; g.seq > idSeqMask {
		g.lastMs++
		g.seq = 0
	}
	return makeID(g.lastMs, g.gen, g.seq)
}

func makeID(ms int64, gen, seq uint64) uint64 {
	t := uint64(ms-IDEpoch) & (1<<idTimeBits - 1)
	return t<<(idGenBits+idSeqBits) | gen<<idSeqBits | seq
}

// SharedIDGen issues ids from any goroutine with one atomic compare-and-swap
// (for the admin API and tests; event loops use their own IDGen).
type SharedIDGen struct {
	gen   uint64
	state atomic.Uint64 // lastMs<<idSeqBits | seq
}

// NewSharedIDGen returns a goroutine-safe generator with generator id gen.
func NewSharedIDGen(gen int) *SharedIDGen { return &SharedIDGen{gen: uint64(gen) & idGenMask} }

// Next returns a fresh id for time nowMs. Safe for concurrent use; 0 allocs.
func (g *SharedIDGen) Next(nowMs int64) uint64 {
	for {
		old := g.state.Load()
		lastMs, seq := int64(old>>idSeqBits), old&idSeqMask
		if nowMs > lastMs {
			lastMs, seq = nowMs, 0
		} else if seq++; seq > idSeqMask {
			lastMs++
			seq = 0
		}
		if g.state.CompareAndSwap(old, uint64(lastMs)<<idSeqBits|seq) {
			return makeID(lastMs, g.gen, seq)
		}
	}
}

// AppendID appends id in decimal, as sent in Otoroshi-Request-Id. 0 allocs
// when dst has 20 bytes of spare capacity.
func AppendID(dst []byte, id uint64) []byte { return strconv.AppendUint(dst, id, 10) }

// IDTime returns the millisecond an id was issued for.
func IDTime(id uint64) time.Time {
	return time.UnixMilli(int64(id>>(idGenBits+idSeqBits)) + IDEpoch)
}
