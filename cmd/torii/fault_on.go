//go:build toriifault

package main

import (
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/quota"
)

// injectFault makes, once the engine is ready (or, with TORII_FAULT_TRIGGER, once that file
// exists), the failure named by TORII_FAULT: "engine" stops the proxy engine behind its back,
// "admin" closes the admin API's listener under it, "db" closes the database under the quota
// persister and lets it give up after 3 failed flushes. Only in binaries built with the
// toriifault tag (the exit status tests).
func injectFault(srv *core.Server, adminLn net.Listener, closeDB func() error, log *slog.Logger) {
	fault := os.Getenv("TORII_FAULT")
	if fault == "" {
		return
	}
	trigger := os.Getenv("TORII_FAULT_TRIGGER")
	go func() {
		<-srv.Ready()
		time.Sleep(300 * time.Millisecond)
		for trigger != "" {
			if _, err := os.Stat(trigger); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		log.Warn("injecting a fault", "fault", fault)
		switch fault {
		case "engine":
			srv.FailEngine()
		case "admin":
			if adminLn != nil {
				_ = adminLn.Close()
			}
		case "db":
			quota.SetFailedFlushLimit(3)
			_ = closeDB()
		}
	}()
}
