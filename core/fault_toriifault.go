//go:build toriifault

package core

import "context"

// FailEngine stops the gnet engine behind the Server's back, as a failure inside gnet would
// (before the own acceptor, an EMFILE did). Only in binaries built with the toriifault tag,
// for cmd/torii's exit status tests; Run must then return ErrEngineStopped.
func (s *Server) FailEngine() {
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	go func() { _ = eng.Stop(context.Background()) }()
}
