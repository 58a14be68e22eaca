package testkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func TestTextBackendAnswers(t *testing.T) {
	addr := TextBackend(t, "hello")
	res, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/any")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(b) != "hello" {
		t.Fatalf("TextBackend on %s: %d %q", addr, res.StatusCode, b)
	}
}

// TestRefusedAddrRefuses: the port refuses connections, and stays taken: a listener cannot bind it.
func TestRefusedAddrRefuses(t *testing.T) {
	addr := RefusedAddr(t)
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("a listener could bind the reserved %s", addr)
	}
}

// TestRunStartsAndStops: Run returns once ready is closed, and the cleanup cancels run's context.
func TestRunStartsAndStops(t *testing.T) {
	ready, stopped := make(chan struct{}), make(chan struct{})
	t.Run("inner", func(t *testing.T) {
		Run(t, "server", func(ctx context.Context) error {
			close(ready)
			<-ctx.Done()
			close(stopped)
			return nil
		}, ready)
		select {
		case <-stopped:
			t.Fatal("run stopped before the test ended")
		default:
		}
	})
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("run was not stopped at cleanup")
	}
}

func TestEventuallyRetries(t *testing.T) {
	calls := 0
	Eventually(t, "the third call", func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("f called %d times, want 3", calls)
	}
}
