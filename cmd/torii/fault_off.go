//go:build !toriifault

package main

import (
	"log/slog"
	"net"

	"github.com/torii-gateway/torii/core"
)

// injectFault does nothing: faults are injected only in test binaries built with the
// toriifault tag (fault_on.go).
func injectFault(*core.Server, net.Listener, func() error, *slog.Logger) {}
