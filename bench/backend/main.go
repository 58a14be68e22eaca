// Command backend is the fast fixed-response upstream for Torii's
// benchmarks (see bench/internal/backend):
//
//	backend -listen 127.0.0.1:9000 -size 32 -sizes /16k=16384 -delay 0
//
// It serves until SIGINT or SIGTERM, then prints how many requests it
// received.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/torii-gateway/torii/bench/internal/backend"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends; it reports on stderr.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on")
	size := fs.Int("size", 32, "response body bytes")
	sizes := fs.String("sizes", "", "per-path body sizes, e.g. /16k=16384,/1k=1024")
	delay := fs.Duration("delay", 0, "artificial delay before each response")
	status := fs.Int("status", 200, "response status code")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bySize, err := backend.ParseSizes(*sizes)
	if err != nil {
		return err
	}
	srv, err := backend.Start(*listen, backend.Config{Size: *size, Sizes: bySize, Delay: *delay, Status: *status})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "backend: listening on %s\n", srv.Addr())
	<-ctx.Done()
	err = srv.Close()
	fmt.Fprintf(stderr, "backend: served %d requests\n", srv.Requests())
	return err
}
