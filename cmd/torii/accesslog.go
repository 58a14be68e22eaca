package main

import (
	"flag"
	"fmt"
	"io"
	"os"

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
