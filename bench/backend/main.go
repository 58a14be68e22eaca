// Command backend is the fast fixed-response upstream for Torii's
// benchmarks (see bench/internal/backend):
//
//	backend -listen 127.0.0.1:9000 -size 32 -sizes /16k=16384 -delay 0
//
// It serves until SIGINT or SIGTERM, then prints how many requests it
// received.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/torii-gateway/torii/bench/internal/backend"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	size := flag.Int("size", 32, "response body bytes")
	sizes := flag.String("sizes", "", "per-path body sizes, e.g. /16k=16384,/1k=1024")
	delay := flag.Duration("delay", 0, "artificial delay before each response")
	status := flag.Int("status", 200, "response status code")
	flag.Parse()
	bySize, err := backend.ParseSizes(*sizes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(2)
	}
	srv, err := backend.Start(*listen, backend.Config{Size: *size, Sizes: bySize, Delay: *delay, Status: *status})
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "backend: listening on %s\n", srv.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
	}
	fmt.Fprintf(os.Stderr, "backend: served %d requests\n", srv.Requests())
}
