package core

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/privateapp"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/httpparse"
)

// Config is the engine's static configuration. Zero fields take the defaults
// below; routing comes separately, through Publish.
type Config struct {
	// Listen is the proxy address, "host:port". Port 0 picks a free port
	// (see Server.Addr); it is refused with ReusePort.
	Listen string
	// Loops is the number of event loops; 0 means GOMAXPROCS. Run raises
	// GOMAXPROCS to Loops+1 when it is lower and the environment does not
	// set it, so that no other goroutine has to take a loop's P (procs.go).
	Loops int
	// ReusePort binds Loops SO_REUSEPORT listening sockets, each with its own
	// accept goroutine, instead of one (accept.go).
	ReusePort bool
	// ProxyProtocol makes the listener expect a PROXY protocol header
	// (version 2 or 1) at the start of every connection, as written by a TCP
	// load balancer in front of Torii (HAProxy's send-proxy, AWS NLB,
	// ...): the client address it carries is the one the steps and the
	// events see. A connection without one is answered 400. Only turn it on
	// when every connection comes through such a balancer: anyone who can
	// connect directly can then claim any address (entry.go).
	ProxyProtocol bool
	// H2C, when set, serves plaintext HTTP/2 with prior knowledge on the listener: each new
	// connection is peeked on a goroutine (h2c.go) and one that starts with the HTTP/2 client
	// preface is given to H2C (package h2edge) on that goroutine instead of the loops. Off
	// (nil) by default; not combined with ProxyProtocol.
	H2C func(c net.Conn)
	// HTTP2 serves HTTP/2 on the event loops (h2conn.go) instead of package h2edge: an
	// enrolled connection whose ClientInfo (or PROXY header) says ALPN h2, and, with
	// HTTP2.H2C, plaintext connections starting with the HTTP/2 preface. Off by default.
	HTTP2 HTTP2Config
	// HTTPSPort is the port of the TLS listener in front of the engine (package tlsedge), for
	// the redirections of ForceHttpsTraffic; 0 or 443 leaves the port out of the URL.
	HTTPSPort int
	// Logger receives the engine's logs; nil means slog.Default().
	Logger *slog.Logger

	// TrustForwarded keeps client-supplied X-Forwarded-For/-Proto/-Host and
	// appends to them; otherwise they are replaced.
	TrustForwarded bool
	// XForwardedByPlugin sends X-Forwarded-For/-Proto/-Host only on routes
	// with Otoroshi's XForwardedHeaders plugin, as Otoroshi does; by default
	// (false) every route sends them. Client-supplied copies are never
	// forwarded unless TrustForwarded (and then only with ours).
	XForwardedByPlugin bool
	// AllowConnect lets CONNECT requests through (as a tunnel to the routed
	// target); otherwise CONNECT is answered 405.
	AllowConnect bool

	// HeaderTimeout bounds the time from the first byte of a request head to
	// its end (slowloris).
	HeaderTimeout time.Duration
	// IdleTimeout closes a client keep-alive connection idle between requests.
	IdleTimeout time.Duration
	// BodyTimeout bounds the wait for the next bytes of a request body (0:
	// IdleTimeout); BodyMinRate, in bytes per second, is the least average
	// rate of a request body after its first BodyTimeout (0: 500, like
	// Apache's mod_reqtimeout; negative: none). See bodylimit.go.
	BodyTimeout time.Duration
	BodyMinRate int
	// MaxRequestBody bounds request bodies in bytes, before any route's
	// RequestBodyLengthLimiter (0: DefaultMaxRequestBody; negative: none).
	MaxRequestBody int64
	// ConnectTimeout, ResponseTimeout, BackendIdleTimeout and CallTimeout are
	// the backend defaults used when a route's client config leaves them 0:
	// the TCP connect, the wait for the response head after the request was
	// sent, a silent backend in the middle of a body, and the whole exchange.
	ConnectTimeout, ResponseTimeout, BackendIdleTimeout, CallTimeout time.Duration

	// PoolIdleLimit is the number of idle keep-alive connections a loop keeps
	// per target (0: DefaultPoolIdleLimit, or DefaultH2PoolIdleLimit when
	// HTTP2.Enabled); PoolIdleTimeout closes an idle pooled connection.
	PoolIdleLimit   int
	PoolIdleTimeout time.Duration

	// HighWater is the number of bytes waiting in a peer's outbound buffer
	// past which an exchange moves to a pump goroutine (see the package doc).
	HighWater int
	// TickInterval is the timing wheel resolution.
	TickInterval time.Duration
	// MaxConns bounds concurrent client connections per server; past it a new
	// connection is answered 503 and closed (an HTTP/2 or TLS-on-loop one is
	// closed without an answer). It counts sockets: an HTTP/2 connection is
	// one whatever its streams, which HTTP2Config.MaxConcurrentStreams bounds.
	// 0 means no bound.
	MaxConns int
	// ShutdownGrace bounds the wait for in-flight exchanges in Shutdown when
	// the caller's context has no deadline.
	ShutdownGrace time.Duration
	// Limits are the parser's size limits.
	Limits httpparse.Limits
	// Quotas counts API-key calls against their quotas; nil means private
	// counters. Give the same value to apikey.CompileWith (as
	// CompileOptions.Counters) and to the quota persister.
	Quotas *quota.Counters
	// PrivateApps holds the private-app sessions and the auth module catalog
	// the AuthModule plugin checks (privateapp.go); nil refuses every
	// request of a route that uses the plugin (500
	// errors.auth.config.not.found).
	PrivateApps *privateapp.Sessions

	// Events, when set, gets one GatewayEvent per answered request (errors
	// answered by the proxy included), recorded on loop i into Events.Ring(i):
	// the hub must have at least Loops rings. Metrics, when set, gets the
	// per-route counters and histograms (kept with each published snapshot)
	// and the connection gauges; one Server per Set. Live is the live-stats
	// sampler over Metrics, kept here for the admin API; its owner runs it.
	// nil turns each off; see observe.go.
	Events  *event.Hub
	Metrics *metric.Set
	Live    *metric.Live
	// NoOtoroshiHeadersIn stops sending Otoroshi-Request-Id,
	// Otoroshi-Proxied-Host and Otoroshi-Request-Timestamp to backends
	// (Otoroshi's OtoroshiHeadersIn); NoOtoroshiHeadersBack stops sending
	// Otoroshi-Request-Id, -Request-Timestamp, -Proxy-Latency and
	// -Upstream-Latency to clients (SendOtoroshiHeadersBack). Both are sent
	// by default.
	NoOtoroshiHeadersIn, NoOtoroshiHeadersBack bool
}

// HTTP2Config is the engine's own HTTP/2 server (h2conn.go). Zero limits take the Default*
// values below (the same as package h2edge's).
type HTTP2Config struct {
	// Enabled serves HTTP/2 on the loops: connections enrolled with ALPN h2 (the TLS
	// listener) become HTTP/2 connections whose streams are virtual client connections.
	Enabled bool
	// H2C also serves HTTP/2 with prior knowledge on the plaintext listener (each new
	// connection is peeked first, h2c.go). Needs Enabled.
	H2C bool
	// MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS; more open streams are refused.
	MaxConcurrentStreams uint32
	// MaxHeaderListSize bounds a decoded header list (name + value + 32 per field); larger is
	// answered 431. It also bounds a header block's compressed size (CONTINUATION floods).
	MaxHeaderListSize uint32
	// StreamWindow and ConnWindow are the flow-control windows granted to the client.
	StreamWindow, ConnWindow int32
	// IdleTimeout closes a connection without open streams; PingAfter sends a PING after
	// that long without a frame; PingTimeout closes a connection whose PING is unanswered;
	// WriteTimeout closes a connection that accepts no byte that long while frames wait.
	IdleTimeout, PingAfter, PingTimeout, WriteTimeout time.Duration
}

// The defaults of HTTP2Config.
const (
	DefaultH2MaxStreams    = 100
	DefaultH2MaxHeaderList = 32 << 10
	DefaultH2StreamWindow  = 256 << 10
	DefaultH2ConnWindow    = 1 << 20
	DefaultH2IdleTimeout   = 2 * time.Minute
	DefaultH2PingAfter     = 30 * time.Second
	DefaultH2PingTimeout   = 15 * time.Second
	DefaultH2WriteTimeout  = 30 * time.Second
	h2MaxWindow            = 1<<31 - 1
	h2MinWindow            = 1 << 10
	h2MaxHeaderListLimit   = 1 << 20
	h2MaxStreamsLimit      = 1 << 16
)

// with returns h overridden by the global settings g (validated by the admin API; values out of
// range keep h's).
func (h *HTTP2Config) with(g *GlobalHTTP2) *HTTP2Config {
	c := *h
	switch g.H2C {
	case 1:
		c.H2C = c.Enabled
	case -1:
		c.H2C = false
	}
	if g.MaxConcurrentStreams > 0 && g.MaxConcurrentStreams <= h2MaxStreamsLimit {
		c.MaxConcurrentStreams = g.MaxConcurrentStreams
	}
	if g.MaxHeaderListSize >= 1024 && g.MaxHeaderListSize <= h2MaxHeaderListLimit {
		c.MaxHeaderListSize = g.MaxHeaderListSize
	}
	if g.StreamWindow >= h2MinWindow {
		c.StreamWindow = g.StreamWindow
	}
	if g.ConnWindow >= h2MinWindow {
		c.ConnWindow = g.ConnWindow
	}
	for _, d := range []struct {
		dst *time.Duration
		v   time.Duration
	}{
		{&c.IdleTimeout, g.IdleTimeout}, {&c.PingAfter, g.PingAfter}, {&c.PingTimeout, g.PingTimeout}} {
		if d.v > 0 {
			*d.dst = d.v
		}
	}
	return &c
}

func (h *HTTP2Config) setDefaults() error {
	if h.MaxConcurrentStreams == 0 {
		h.MaxConcurrentStreams = DefaultH2MaxStreams
	}
	if h.MaxHeaderListSize == 0 {
		h.MaxHeaderListSize = DefaultH2MaxHeaderList
	}
	if h.StreamWindow == 0 {
		h.StreamWindow = DefaultH2StreamWindow
	}
	if h.ConnWindow == 0 {
		h.ConnWindow = DefaultH2ConnWindow
	}
	for _, d := range []struct {
		p *time.Duration
		v time.Duration
	}{{&h.IdleTimeout, DefaultH2IdleTimeout}, {&h.PingAfter, DefaultH2PingAfter},
		{&h.PingTimeout, DefaultH2PingTimeout}, {&h.WriteTimeout, DefaultH2WriteTimeout}} {
		if *d.p <= 0 {
			*d.p = d.v
		}
	}
	switch {
	case h.MaxConcurrentStreams > h2MaxStreamsLimit:
		return fmt.Errorf("HTTP/2 max concurrent streams %d: at most %d", h.MaxConcurrentStreams, h2MaxStreamsLimit)
	case h.MaxHeaderListSize < 1024 || h.MaxHeaderListSize > h2MaxHeaderListLimit:
		return fmt.Errorf("HTTP/2 max header list size %d: between 1024 and %d", h.MaxHeaderListSize, h2MaxHeaderListLimit)
	case h.StreamWindow < h2MinWindow || h.ConnWindow < h2MinWindow:
		return fmt.Errorf("HTTP/2 windows %d (stream), %d (connection): between %d and %d", h.StreamWindow, h.ConnWindow, h2MinWindow, h2MaxWindow)
	case h.H2C && !h.Enabled:
		return errors.New("HTTP/2 h2c on the loops needs HTTP2.Enabled")
	}
	return nil
}

// The defaults of Config.
const (
	DefaultHeaderTimeout      = 10 * time.Second
	DefaultIdleTimeout        = 60 * time.Second
	DefaultConnectTimeout     = 10 * time.Second
	DefaultResponseTimeout    = 30 * time.Second
	DefaultBackendIdleTimeout = 60 * time.Second
	DefaultCallTimeout        = 120 * time.Second
	DefaultPoolIdleLimit      = 64
	DefaultH2PoolIdleLimit    = 512 // PoolIdleLimit's default with HTTP2.Enabled
	DefaultPoolIdleTimeout    = 60 * time.Second
	DefaultHighWater          = 1 << 20
	DefaultTickInterval       = 10 * time.Millisecond
	DefaultShutdownGrace      = 30 * time.Second
	DefaultBodyMinRate        = 500
	DefaultMaxRequestBody     = 1 << 30
)

func (c *Config) setDefaults() error {
	if c.Listen == "" {
		return ErrNoListen
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		return err
	} else if c.ReusePort && (port == "0" || port == "") {
		return ErrReusePortNeedsPort
	}
	if c.Loops <= 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeaderTimeout, DefaultHeaderTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.ResponseTimeout, DefaultResponseTimeout)
	def(&c.BackendIdleTimeout, DefaultBackendIdleTimeout)
	def(&c.CallTimeout, DefaultCallTimeout)
	def(&c.PoolIdleTimeout, DefaultPoolIdleTimeout)
	def(&c.TickInterval, DefaultTickInterval)
	def(&c.ShutdownGrace, DefaultShutdownGrace)
	def(&c.BodyTimeout, c.IdleTimeout)
	if c.BodyMinRate == 0 {
		c.BodyMinRate = DefaultBodyMinRate
	}
	switch {
	case c.MaxRequestBody == 0:
		c.MaxRequestBody = DefaultMaxRequestBody
	case c.MaxRequestBody < 0:
		c.MaxRequestBody = -1
	}
	if c.PoolIdleLimit <= 0 {
		c.PoolIdleLimit = DefaultPoolIdleLimit
		if c.HTTP2.Enabled {
			// One HTTP/2 connection alone may hold 100 exchanges in flight: a
			// pool that keeps 64 idle connections would close and redial most
			// backend connections under a few such clients (h2load -c 50 -m 10
			// through 64: 9.6k req/s; through 512: 62k, docs/ARCHITECTURE.md).
			c.PoolIdleLimit = DefaultH2PoolIdleLimit
		}
	}
	if c.HighWater <= 0 {
		c.HighWater = DefaultHighWater
	}
	if err := c.HTTP2.setDefaults(); err != nil {
		return err
	}
	if c.Quotas == nil {
		c.Quotas = quota.New(quota.Options{})
	}
	if c.Events != nil {
		// Two loops sharing one single-producer ring would corrupt it.
		for i := 1; i < c.Loops; i++ {
			if c.Events.Ring(i) == c.Events.Ring(0) {
				return ErrEventLoops
			}
		}
	}
	return nil
}
