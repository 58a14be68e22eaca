package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/torii-gateway/torii/core"
)

// listeners are the addresses of torii's listeners, each as a local client dials it: the host of
// the listen flag (loopback for a wildcard) and the port the kernel bound, the picked one when the
// flag says port 0. The field names are the JSON keys of the --ready-file.
type listeners struct {
	Proxy string `json:"proxy"`
	Admin string `json:"admin,omitempty"`
	// TLS is the --listen-tls listener.
	TLS  string `json:"tls,omitempty"`
	Echo string `json:"echo,omitempty"`
	// Status is torii worker's --status listener.
	Status string `json:"status,omitempty"`
}

// readiness announces the bound listeners once all of them listen: one "ready" log line and,
// with --ready-file, the file. The admin and echo addresses are set before the proxy runs;
// the proxy's comes from the engine once gnet has bound it.
type readiness struct {
	path   string // --ready-file; empty: the log line only
	listen string // the proxy's --listen
	log    *slog.Logger
	addrs  listeners
}

// clear removes a ready file left by an earlier run, so that a waiter never reads stale ports.
func (r *readiness) clear() error {
	if r.path == "" {
		return nil
	}
	if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot remove the old ready file: %w", err)
	}
	return nil
}

// announce waits until srv has bound its listener, then reports every address. It returns
// without reporting when ctx ends first or when srv could not listen (Run says why). Call it
// on its own goroutine while srv.Run runs.
func (r *readiness) announce(ctx context.Context, srv *core.Server) {
	select {
	case <-srv.Ready():
	case <-ctx.Done():
		return
	}
	addr := srv.Addr()
	if addr == nil {
		return
	}
	r.addrs.Proxy = reachable(r.listen, addr.String())
	attrs := []any{"proxy", r.addrs.Proxy}
	if r.addrs.TLS != "" {
		attrs = append(attrs, "tls", r.addrs.TLS)
	}
	if r.addrs.Admin != "" {
		attrs = append(attrs, "admin", r.addrs.Admin)
	}
	if r.addrs.Echo != "" {
		attrs = append(attrs, "echo", r.addrs.Echo)
	}
	r.log.Info("ready", attrs...)
	if r.path == "" {
		return
	}
	if err := writeFileAtomic(r.path, r.addrs); err != nil {
		r.log.Error("cannot write the ready file", "path", r.path, "err", err)
	}
}

// run runs srv until ctx is done, announcing its listeners once bound, and removes the ready
// file when srv stops.
func (r *readiness) run(ctx context.Context, srv *core.Server) error {
	announced := make(chan struct{})
	go func() {
		defer close(announced)
		r.announce(ctx, srv)
	}()
	err := srv.Run(ctx)
	<-announced
	if r.path != "" {
		_ = os.Remove(r.path)
	}
	return err
}

// writeFileAtomic writes v as JSON to path through a temporary file in the same directory and
// a rename, so that a reader sees either no file or the whole of it.
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cannot encode %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".torii-ready-*")
	if err != nil {
		return fmt.Errorf("cannot create a temporary file next to %s: %w", path, err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// reachable is the address a local client dials for a listener that asked for listen and got
// bound: the host of listen, loopback when listen names no host or a wildcard, with the bound
// port.
func reachable(listen, bound string) string {
	host, _, err := net.SplitHostPort(listen)
	switch {
	case err != nil || host == "" || host == "0.0.0.0":
		host = "127.0.0.1"
	case host == "::":
		host = "::1"
	}
	_, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	return net.JoinHostPort(host, port)
}
