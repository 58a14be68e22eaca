//go:build toriifault

package main

import (
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/torii-gateway/torii/core"
)

// injectFault makes, once the engine is ready, the failure named by TORII_FAULT: "engine"
// stops the proxy engine behind its back, "admin" closes the admin API's listener under it.
// Only in binaries built with the toriifault tag (the exit status tests).
func injectFault(srv *core.Server, adminLn net.Listener, log *slog.Logger) {
	fault := os.Getenv("TORII_FAULT")
	if fault == "" {
		return
	}
	go func() {
		<-srv.Ready()
		time.Sleep(300 * time.Millisecond)
		log.Warn("injecting a fault", "fault", fault)
		switch fault {
		case "engine":
			srv.FailEngine()
		case "admin":
			if adminLn != nil {
				_ = adminLn.Close()
			}
		}
	}()
}
