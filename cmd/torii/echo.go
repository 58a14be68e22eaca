package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/torii-gateway/torii/core/route"
)

// defaultRoutes is the configuration of "torii serve" without --config: the
// demo route demo.torii.local → the built-in echo backend. A target whose
// hostname is echoHost is pointed at the echo backend at start.
//
//go:embed defaults.json
var defaultRoutes []byte

// echoHost is the placeholder hostname of the built-in echo backend.
const echoHost = "builtin-echo.torii.local"

func usesEcho(routes []route.Route) bool {
	for i := range routes {
		for _, t := range routes[i].Backend.Targets {
			if t.Hostname == echoHost {
				return true
			}
		}
	}
	return false
}

func pointEcho(routes []route.Route, addr netip.AddrPort) {
	for i := range routes {
		ts := routes[i].Backend.Targets
		for j := range ts {
			if ts[j].Hostname == echoHost {
				ts[j].Hostname = addr.Addr().String()
				ts[j].Port = int(addr.Port())
			}
		}
	}
}

// startEcho starts the built-in echo backend: it answers every request with
// a JSON description of what it received (method, path, headers, body size).
func startEcho(addr string) (netip.AddrPort, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return netip.AddrPort{}, nil, fmt.Errorf("cannot start echo backend: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(echoHandler), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().(*net.TCPAddr).AddrPort(), func() { _ = srv.Close() }, nil
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"service": "torii built-in echo",
		"method":  r.Method,
		"path":    r.URL.RequestURI(),
		"host":    r.Host,
		"headers": r.Header,
		"body":    n,
	})
}
