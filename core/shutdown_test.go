package core_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
)

func TestGracefulShutdown(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(600 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "done")
	}))
	srv := startProxy(t, core.Config{}, testRoute("*", be))

	idle := dial(t, srv)
	idleBr := bufio.NewReader(idle)
	if _, body := roundTrip(t, idle, idleBr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"); body != "done" {
		t.Fatal(body)
	}
	busy := dial(t, srv)
	_, _ = io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(100 * time.Millisecond)

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)

	// The idle keep-alive connection is closed, a new one gets no answer.
	if _, err := idleBr.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}
	if late, err := dialErr(srv); err == nil {
		_, _ = io.WriteString(late, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if b, _ := io.ReadAll(late); len(b) != 0 {
			t.Errorf("a connection accepted during shutdown was answered: %q", b)
		}
		_ = late.Close()
	}
	// The in-flight exchange completes, with Connection: close.
	resp, body := readResponse(t, bufio.NewReader(busy), "GET")
	if resp.StatusCode != 200 || body != "done" || !resp.Close {
		t.Errorf("in-flight request: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}
