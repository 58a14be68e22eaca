package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/event"
)

// accessLogFlags are the access log flags of "torii serve" and "torii worker".
type accessLogFlags struct {
	path, fmt string
}

func (f *accessLogFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.path, "access-log", "", `access log file, one line per request ("-": stdout; empty: none)`)
	fs.StringVar(&f.fmt, "access-log-format", string(event.AccessLogJSON), "access log format: json or common")
}

// check refuses an unknown --access-log-format.
func (f *accessLogFlags) check() error {
	if fm := f.format(); fm != event.AccessLogJSON && fm != event.AccessLogCommon {
		return fmt.Errorf("unknown access log format %q (json or common)", f.fmt)
	}
	return nil
}

func (f *accessLogFlags) format() event.AccessLogFormat { return event.AccessLogFormat(f.fmt) }

// openAccessLog opens the access log named by the --access-log flag (nil writer when empty).
// The returned close runs after the hub stopped writing.
func openAccessLog(path string) (io.Writer, func(), error) {
	switch path {
	case "":
		return nil, func() {}, nil
	case "-":
		return os.Stdout, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open access log: %w", err)
	}
	return f, func() { _ = f.Close() }, nil
}

// startAccessLog gives an engine without the admin API (serve --admin off) an event hub that
// only writes the access log named by f, so --access-log is honoured there too; without the
// flag it changes nothing. stop, called after the engine stopped, drains what the loops
// recorded, then closes the file.
func startAccessLog(cfg *core.Config, f accessLogFlags, log *slog.Logger) (stop func(), err error) {
	w, closeFile, err := openAccessLog(f.path)
	if err != nil || w == nil {
		return func() {}, err
	}
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.GOMAXPROCS(0)
	}
	hub := event.NewHub(event.Options{Loops: cfg.Loops, Logger: log, AccessLog: w, AccessLogFormat: f.format()})
	cfg.Events = hub
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
		closeFile()
	}, nil
}
