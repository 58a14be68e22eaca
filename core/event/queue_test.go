package event

import "testing"

// TestDocQueue: a bounded FIFO across its wrap-around, that takes what fits
// of a group, wakes its consumer once per push that took something, and
// refuses everything once closed while keeping what it holds.
func TestDocQueue(t *testing.T) {
	q := newDocQueue(3)
	docs := make([]*docBuf, 5)
	for i := range docs {
		docs[i] = &docBuf{b: []byte{byte('a' + i)}}
	}
	if n := q.push(docs[0], docs[1]); n != 2 || q.len() != 2 {
		t.Fatalf("push took %d, len %d", n, q.len())
	}
	if n := q.push(docs[2], docs[3], docs[4]); n != 1 || q.len() != 3 {
		t.Fatalf("push into a queue with room for 1 took %d, len %d", n, q.len())
	}
	select {
	case <-q.wake:
	default:
		t.Fatal("no wake-up token after a push")
	}
	select {
	case <-q.wake:
		t.Fatal("a second token: the consumer would wake once per push")
	default:
	}
	got := q.pop(nil, 2)
	if len(got) != 2 || got[0] != docs[0] || got[1] != docs[1] {
		t.Fatalf("pop(2) = %v", got)
	}
	if n := q.push(docs[3], docs[4]); n != 2 { // wraps around the slots
		t.Fatalf("push after pop took %d", n)
	}
	q.close()
	if n := q.push(docs[0]); n != 0 {
		t.Fatalf("closed queue took %d", n)
	}
	got = q.pop(got[:0], 10)
	if len(got) != 3 || got[0] != docs[2] || got[1] != docs[3] || got[2] != docs[4] || q.len() != 0 {
		t.Fatalf("pop after close = %d docs, len %d", len(got), q.len())
	}
	if got = q.pop(got[:0], 10); len(got) != 0 {
		t.Fatalf("pop of an empty queue returned %d docs", len(got))
	}
}
