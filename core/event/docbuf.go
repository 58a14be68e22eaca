package event

import (
	"sync"
	"sync/atomic"
)

// maxPooledDoc bounds the documents kept for reuse: a rare huge audit document
// must not pin its memory in the pool forever.
const maxPooledDoc = 16 << 10

// docBuf is one encoded document shared by the exporters that accepted it.
// It goes back to the pool when the last of them has sent (or dropped) it,
// so steady-state exporting allocates nothing per event.
type docBuf struct {
	b    []byte
	refs atomic.Int32
}

var docPool = sync.Pool{New: func() any { return &docBuf{b: make([]byte, 0, 2048)} }}

// newDoc returns a pooled copy of src owned by refs holders.
func newDoc(src []byte, refs int) *docBuf {
	d := docPool.Get().(*docBuf)
	d.b = append(d.b[:0], src...)
	d.refs.Store(int32(refs))
	return d
}

// release drops one holder's reference; the last one recycles d.
func (d *docBuf) release() {
	if d.refs.Add(-1) == 0 && cap(d.b) <= maxPooledDoc {
		docPool.Put(d)
	}
}
