package core

import "github.com/torii-gateway/torii/httpparse"

// coalesceBody appends to cc.head a small Content-Length request body that
// is already all in rest (the bytes read after the request head), so that
// head and body reach the backend in one write instead of two, and returns
// the body's length, to be consumed with the head (0: the body, if any, is
// left to forwardBody). The head keeps the body for a retry, which resends
// both; attach marks the body sent once the head is written, as
// forwardBody would have in the same callback. On cc's loop, while rest is
// still peeked.
func (lp *loop) coalesceBody(cc *clientConn, rest []byte) int {
	if cc.reqDone || cc.reqFraming != httpparse.FramingLength ||
		cc.reqLeft > coalesceMax || int64(len(rest)) < cc.reqLeft {
		return 0
	}
	n := int(cc.reqLeft)
	cc.head = append(cc.head, rest[:n]...)
	cc.reqLeft = 0
	cc.reqDone = true
	cc.bodyInHead = true
	cc.obs.dataIn += int64(n)
	return n
}
