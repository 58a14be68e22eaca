package core

import "github.com/torii-gateway/torii/core/event"

// What an idle keep-alive client connection holds is what bounds how many
// of them one process can keep: gnet gives back its inbound and outbound
// buffers when they are empty, so what stays is gnet's conn and ours,
// clientConn. The state only a request needs is therefore not in
// clientConn: the parsed head and its field array are the loop's (loop.req
// and reqHdr: their spans die at the head's Discard, inside one callback;
// startExchange copies what the exchange needs later), and the buffers an
// exchange fills as it goes, the rewritten request head (resent on a retry)
// and the event record (pushed when the exchange ends), come from the loop's
// free lists when the exchange starts (exchangeHead, takeRecord) and go
// back when it is over (releaseExchange).
//
// BenchmarkIdleConnMemory measures the result.

// maxPooledHead is the largest request-head buffer kept for reuse: one that
// grew for a huge head is left to the GC rather than pinned for good.
const maxPooledHead = 64 << 10

// exchangeHead returns cc's buffer for its rewritten request head, empty,
// taking one from the loop's free list when cc has none. The buffer is cc's
// until releaseExchange. On cc's loop only.
func (lp *loop) exchangeHead(cc *clientConn) []byte {
	if cc.head == nil {
		if b, ok := popFree(&lp.freeHeads); ok {
			cc.head = b
		} else {
			cc.head = make([]byte, 0, 1024)
		}
	}
	return cc.head[:0]
}

// takeRecord returns an event record for an exchange about to be observed,
// from the loop's free list when it has one. On the loop only.
func (lp *loop) takeRecord() *event.Record {
	if r, ok := popFree(&lp.freeRecords); ok {
		return r
	}
	return new(event.Record)
}

// releaseExchange gives cc's request-head buffer and event record back to
// the loop once its exchange is over: nothing resends the head, and the
// record was pushed (obsEnd). A record still being observed stays. On cc's
// loop only.
func (lp *loop) releaseExchange(cc *clientConn) {
	if cc.head != nil {
		if cap(cc.head) <= maxPooledHead {
			pushFree(&lp.freeHeads, cc.head[:0])
		}
		cc.head = nil
	}
	if r := cc.obs.rec; r != nil && !cc.obs.active {
		pushFree(&lp.freeRecords, r)
		cc.obs.rec = nil
	}
}
