package core_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/torii-gateway/torii/core"
)

// A server whose loops would hold every P raises GOMAXPROCS to one more
// than its loops, and still proxies; a GOMAXPROCS set by the environment
// is left alone.
func TestRunLeavesASpareP(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set by the environment, which the server must respect")
	}
	prev := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	be := startFixedBackend(t)
	srv := startProxy(t, core.Config{Loops: 1}, testRoute("spare.test", be))
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("GOMAXPROCS with one loop = %d, want 2", got)
	}
	c := dial(t, srv)
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: spare.test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil || n < 12 || string(buf[:12]) != "HTTP/1.1 200" {
		t.Fatalf("response %q, %v", buf[:n], err)
	}
}
