package tlsedge

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"sync"
)

// ticketKeys are the session ticket keys of the process: the first encrypts new tickets, the
// others still decrypt tickets issued before the last rotations. A ticket therefore resumes for
// between (keep-1) and keep rotation periods.
type ticketKeys struct {
	mu   sync.Mutex
	keys [][32]byte
	keep int
	cfgs []*tls.Config // every config that issues tickets: the base one and the mTLS one
}

func newTicketKeys(keep int) (*ticketKeys, error) {
	t := &ticketKeys{keep: max(keep, 2)}
	if err := t.rotate(); err != nil {
		return nil, err
	}
	return t, nil
}

// rotate puts a fresh key in front and drops the oldest past keep.
func (t *ticketKeys) rotate() error {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return fmt.Errorf("cannot make session ticket key: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys = append([][32]byte{k}, t.keys...)
	if len(t.keys) > t.keep {
		t.keys = t.keys[:t.keep]
	}
	for _, c := range t.cfgs {
		c.SetSessionTicketKeys(t.keys)
	}
	return nil
}

// attach makes cfg use the shared keys from now on, rotations included.
func (t *ticketKeys) attach(cfg *tls.Config) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cfg.SetSessionTicketKeys(t.keys)
	t.cfgs = append(t.cfgs, cfg)
}
