// Command adminbin runs only Torii's admin API, the way cmd/torii wires it, for the kill -9
// durability test when cmd/torii does not have the admin flags yet.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/torii-gateway/torii/admin"
)

func main() {
	listen := flag.String("admin", admin.DefaultListen, "admin API listen address")
	dataDir := flag.String("data-dir", admin.DefaultDataDir, "directory of torii.db")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := admin.Run(ctx, admin.Options{Listen: *listen, DataDir: *dataDir}); err != nil {
		fmt.Fprintln(os.Stderr, "adminbin:", err)
		os.Exit(1)
	}
}
