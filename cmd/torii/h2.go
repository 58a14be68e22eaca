package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/h2edge"
	"github.com/torii-gateway/torii/proxyproto"
)

// h2Flags are the downstream HTTP/2 flags (package h2edge), registered with the TLS flags.
type h2Flags struct {
	http2 bool   // ALPN h2 on --listen-tls
	h2c   bool   // HTTP/2 with prior knowledge on --listen
	impl  string // "h2edge" (goroutines, package h2edge) or "loops" (the engine's own, core/h2conn.go)
	cfg   h2edge.Config
	// Limits as flags give them, checked and converted by server.
	maxStreams, maxHeaderList, streamWindow, connWindow uint
	srv                                                 *h2edge.Server // made once, shared by both ways in
}

func (f *h2Flags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.http2, "http2", true, "offer HTTP/2 (ALPN h2) on --listen-tls")
	fs.StringVar(&f.impl, "h2-server", "loops", "HTTP/2 server: loops (the engine's own, on its event loops) or h2edge (Go's, on goroutines)")
	fs.BoolVar(&f.h2c, "h2c", false, "serve HTTP/2 with prior knowledge (h2c) on --listen too (each new connection is peeked first)")
	fs.UintVar(&f.maxStreams, "h2-max-streams", core.DefaultH2MaxStreams, "concurrent HTTP/2 streams per connection")
	fs.UintVar(&f.maxHeaderList, "h2-max-header-list", core.DefaultH2MaxHeaderList, "largest decoded HTTP/2 header list in bytes")
	fs.UintVar(&f.streamWindow, "h2-stream-window", core.DefaultH2StreamWindow, "HTTP/2 flow-control window granted per stream in bytes")
	fs.UintVar(&f.connWindow, "h2-conn-window", core.DefaultH2ConnWindow, "HTTP/2 flow-control window granted per connection in bytes")
	fs.DurationVar(&f.cfg.IdleTimeout, "h2-idle-timeout", core.DefaultH2IdleTimeout, "close an HTTP/2 connection without streams after this long")
	fs.DurationVar(&f.cfg.PingAfter, "h2-ping-after", core.DefaultH2PingAfter, "send an HTTP/2 PING after this long without a frame from the client")
	fs.DurationVar(&f.cfg.PingTimeout, "h2-ping-timeout", core.DefaultH2PingTimeout, "close an HTTP/2 connection whose PING is not answered in this time")
}

// server returns the HTTP/2 server, made on first use; streams go to *engine.
func (f *h2Flags) server(engine **core.Server, log *slog.Logger) (*h2edge.Server, error) {
	if f.srv != nil {
		return f.srv, nil
	}
	const maxWindow = 1<<31 - 1 // RFC 9113 §6.9.1
	if f.maxStreams > 1<<31 || f.maxHeaderList > 1<<30 || f.streamWindow > maxWindow || f.connWindow > maxWindow {
		return nil, fmt.Errorf("--h2-max-streams %d, --h2-max-header-list %d, --h2-stream-window %d, --h2-conn-window %d: out of range (windows at most %d)",
			f.maxStreams, f.maxHeaderList, f.streamWindow, f.connWindow, maxWindow)
	}
	cfg := f.cfg
	cfg.MaxConcurrentStreams, cfg.MaxHeaderListSize = uint32(f.maxStreams), uint32(f.maxHeaderList)
	cfg.StreamWindow, cfg.ConnWindow = int32(f.streamWindow), int32(f.connWindow)
	cfg.Enroll = func(nc net.Conn) error { return (*engine).Enroll(nc, nil) }
	cfg.Logger = log.With("component", "http2")
	srv, err := h2edge.New(cfg)
	f.srv = srv
	return srv, err
}

// loops reports whether --h2-server loops serves HTTP/2 on the engine's loops; an unknown
// value is an error.
func (f *h2Flags) loops() (bool, error) {
	switch f.impl {
	case "", "h2edge":
		return false, nil
	case "loops":
		return true, nil
	}
	return false, fmt.Errorf("--h2-server %q: h2edge or loops", f.impl)
}

// engineConfig is core.Config.HTTP2: on with --h2-server loops (ALPN h2 from --listen-tls with
// --http2, h2c with --h2c or the global config's http2Settings.h2c), off otherwise.
func (f *h2Flags) engineConfig() (core.HTTP2Config, error) {
	on, err := f.loops()
	if err != nil || !on {
		return core.HTTP2Config{}, err
	}
	const maxWindow = 1<<31 - 1
	if f.maxStreams > 1<<16 || f.maxHeaderList > 1<<20 || f.streamWindow > maxWindow || f.connWindow > maxWindow {
		return core.HTTP2Config{}, fmt.Errorf("--h2-max-streams %d, --h2-max-header-list %d, --h2-stream-window %d, --h2-conn-window %d: out of range",
			f.maxStreams, f.maxHeaderList, f.streamWindow, f.connWindow)
	}
	return core.HTTP2Config{Enabled: true, H2C: f.h2c,
		MaxConcurrentStreams: uint32(f.maxStreams), MaxHeaderListSize: uint32(f.maxHeaderList),
		StreamWindow: int32(f.streamWindow), ConnWindow: int32(f.connWindow),
		IdleTimeout: f.cfg.IdleTimeout, PingAfter: f.cfg.PingAfter, PingTimeout: f.cfg.PingTimeout}, nil
}

// serveTLS is tlsedge's ServeH2 with --http2, nil without (and with --h2-server loops: the
// engine reads ALPN h2 from the PROXY header of the handed-over connection).
func (f *h2Flags) serveTLS(engine **core.Server, log *slog.Logger) (func(*tls.Conn, *proxyproto.Info), error) {
	if on, err := f.loops(); !f.http2 || on || err != nil {
		return nil, err
	}
	srv, err := f.server(engine, log)
	if err != nil {
		return nil, err
	}
	return srv.ServeTLS, nil
}

// serveH2C is core.Config.H2C with --h2c, nil without.
func (f *h2Flags) serveH2C(engine **core.Server, log *slog.Logger) (func(net.Conn), error) {
	if on, err := f.loops(); !f.h2c || on || err != nil {
		return nil, err
	}
	srv, err := f.server(engine, log)
	if err != nil {
		return nil, err
	}
	return func(c net.Conn) {
		var in proxyproto.Info
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			in.Src = a.AddrPort()
		}
		if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
			in.Dst = a.AddrPort()
		}
		in.Src = netip.AddrPortFrom(in.Src.Addr().Unmap(), in.Src.Port())
		in.Dst = netip.AddrPortFrom(in.Dst.Addr().Unmap(), in.Dst.Port())
		srv.Serve(c, in)
	}, nil
}

// registerMetrics exports the HTTP/2 counters when HTTP/2 is served (--http2 with --listen-tls,
// or --h2c), by *engine with --h2-server loops, else by h2edge. Error kinds are a bounded label
// set: RFC 9113 error code names (loops) or x/net's fixed names (h2edge).
func (f *h2Flags) registerMetrics(set *metric.Set, engine **core.Server) {
	var stats func() h2edge.Stats
	if on, _ := f.loops(); on && (f.http2 || f.h2c) {
		stats = func() h2edge.Stats {
			st := (*engine).HTTP2Stats()
			return h2edge.Stats{Conns: st.Conns, Served: st.Served, Streams: st.Streams, OpenStreams: st.OpenStreams, Errors: st.Errors}
		}
	} else if s := f.srv; s != nil {
		stats = s.Stats
	} else {
		return
	}
	set.GaugeFunc("torii_http2_connections", func() float64 { return float64(stats().Conns) })
	set.CounterFunc("torii_http2_connections_total", func() uint64 { return uint64(stats().Served) })
	set.CounterFunc("torii_http2_streams_total", func() uint64 { return stats().Streams })
	set.GaugeFunc("torii_http2_streams", func() float64 { return float64(stats().OpenStreams) })
	set.CounterVecFunc("torii_http2_errors_total", "HTTP/2 protocol errors by kind (RFC 9113 code names; floods and rapid resets included).",
		[]string{"kind"}, func(emit func(float64, ...string)) {
			st := stats()
			kinds := make([]string, 0, len(st.Errors))
			for k := range st.Errors {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			for _, k := range kinds {
				emit(float64(st.Errors[k]), k)
			}
		})
}
