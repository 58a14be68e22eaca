package event

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestIDGen(t *testing.T) {
	g := NewIDGen(37)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC).UnixMilli()
	seen := map[uint64]bool{}
	var prev uint64
	// 10000 ids in one millisecond overflow the 4096 sequence twice.
	for i := range 10000 {
		id := g.Next(now)
		if seen[id] || id <= prev {
			t.Fatalf("id %d: %d not fresh and increasing (prev %d)", i, id, prev)
		}
		seen[id] = true
		prev = id
		if gen := id >> idSeqBits & idGenMask; gen != 37 {
			t.Fatalf("generator of %d = %d", id, gen)
		}
	}
	if got := IDTime(prev).UnixMilli(); got != now+2 {
		t.Fatalf("time after two overflows = %d, want %d", got, now+2)
	}
	// The clock stepping back does not repeat ids.
	if id := g.Next(now - 1000); id <= prev {
		t.Fatalf("id after clock step back %d <= %d", id, prev)
	}
	// A later millisecond restarts the sequence.
	id := g.Next(now + 10)
	if IDTime(id).UnixMilli() != now+10 || id&idSeqMask != 0 {
		t.Fatalf("fresh millisecond: time %v seq %d", IDTime(id), id&idSeqMask)
	}
	if id>>63 != 0 {
		t.Fatalf("sign bit set in %d", id)
	}
	if s := string(AppendID(nil, id)); s != strconv.FormatUint(id, 10) {
		t.Fatalf("AppendID = %q", s)
	}
}

func TestSharedIDGen(t *testing.T) {
	g := NewSharedIDGen(1)
	now := time.Now().UnixMilli()
	const workers, per = 4, 3000
	out := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range per {
				out[w] = append(out[w], g.Next(now))
			}
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, ids := range out {
		for i, id := range ids {
			if seen[id] {
				t.Fatalf("duplicate id %d", id)
			}
			seen[id] = true
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("ids of one goroutine not increasing")
			}
		}
	}
}
