package event

import "sync"

// docQueue is an exporter's bounded queue of documents: a fixed ring of
// bufferSize slots behind a mutex, filled in groups by the drain goroutine
// (one lock and at most one wake-up per group, not per event) and emptied by
// the exporter goroutine. A full or closed queue refuses what does not fit;
// the caller counts and releases it. Nothing in it ever waits.
type docQueue struct {
	mu     sync.Mutex
	slots  []*docBuf
	head   int // index of the oldest document
	n      int // documents queued
	closed bool

	// wake holds one token when documents arrived since the consumer last
	// looked; a producer never blocks on it.
	wake chan struct{}
}

func newDocQueue(size int) *docQueue {
	return &docQueue{slots: make([]*docBuf, size), wake: make(chan struct{}, 1)}
}

// push appends as many of docs as fit, in order, wakes the consumer if any
// did, and returns how many were taken: docs[taken:] are the caller's to
// drop. Safe for concurrent use; 0 allocs.
func (q *docQueue) push(docs ...*docBuf) (taken int) {
	q.mu.Lock()
	if !q.closed {
		taken = min(len(docs), len(q.slots)-q.n)
		for i := range taken {
			q.slots[(q.head+q.n+i)%len(q.slots)] = docs[i]
		}
		q.n += taken
	}
	q.mu.Unlock()
	if taken > 0 {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return taken
}

// pop moves the oldest documents into dst until it holds max, and returns it.
// Consumer only.
func (q *docQueue) pop(dst []*docBuf, max int) []*docBuf {
	q.mu.Lock()
	k := min(max-len(dst), q.n)
	for range k {
		dst = append(dst, q.slots[q.head])
		q.slots[q.head] = nil
		q.head = (q.head + 1) % len(q.slots)
	}
	q.n -= k
	q.mu.Unlock()
	return dst
}

// close makes later pushes refuse everything; what is queued stays to pop.
func (q *docQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// len returns the documents queued. Safe for concurrent use.
func (q *docQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
