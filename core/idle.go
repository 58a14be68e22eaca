package core

// What an idle keep-alive client connection holds is what bounds how many
// of them one process can keep: gnet gives back its inbound and outbound
// buffers when they are empty, so what stays is gnet's conn and ours,
// clientConn. The state only a request needs is therefore not in
// clientConn: the parsed head's field array is the loop's (loop.reqHdr, its
// spans die at the head's Discard, inside one callback), and the buffer of
// the rewritten request head, which must live as long as the exchange (it
// is resent on a retry), comes from the loop's free list when the exchange
// starts and goes back when it ends (exchangeHead, releaseHead).

// maxPooledHead is the largest request-head buffer kept for reuse: one that
// grew for a huge head is left to the GC rather than pinned for good.
const maxPooledHead = 64 << 10

// exchangeHead returns cc's buffer for its rewritten request head, empty,
// taking one from the loop's free list when cc has none. The buffer is cc's
// until releaseHead. On cc's loop only.
func (lp *loop) exchangeHead(cc *clientConn) []byte {
	if cc.head == nil {
		if n := len(lp.freeHeads); n > 0 {
			cc.head = lp.freeHeads[n-1]
			lp.freeHeads[n-1] = nil
			lp.freeHeads = lp.freeHeads[:n-1]
		} else {
			cc.head = make([]byte, 0, 1024)
		}
	}
	return cc.head[:0]
}

// releaseHead gives cc's request-head buffer back to the loop: its exchange
// is over, nothing will resend it. On cc's loop only.
func (lp *loop) releaseHead(cc *clientConn) {
	if cc.head == nil {
		return
	}
	if cap(cc.head) <= maxPooledHead && len(lp.freeHeads) < maxFree {
		lp.freeHeads = append(lp.freeHeads, cc.head[:0])
	}
	cc.head = nil
}
