package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRunEngineStoppedIsError: when the gnet engine stops without Shutdown asking it to (as
// gnet's own acceptor did on EMFILE), Run reports ErrEngineStopped, never the clean
// ErrServerClosed: the binary turns it into a non-zero exit status.
func TestRunEngineStoppedIsError(t *testing.T) {
	s, err := NewServer(Config{Listen: "127.0.0.1:0", Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case <-s.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := eng.Stop(ctx); err != nil {
		t.Fatalf("stopping the engine behind the server's back: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrEngineStopped) {
			t.Fatalf("Run = %v, want ErrEngineStopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the engine stopped")
	}
}
