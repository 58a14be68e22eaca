package tlsedge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torii-gateway/torii/internal/sockpair"
	"github.com/torii-gateway/torii/pki"
	"github.com/torii-gateway/torii/proxyproto"
	"golang.org/x/sys/unix"
)

// Defaults of Config.
const (
	// DefaultHandshakeTimeout bounds a handshake: a client that opens a connection and stalls
	// (slowloris at the TLS layer) holds a slot at most this long.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxHandshakes bounds the handshakes run at once: a flood of new connections waits in
	// the kernel's accept queue (and is then dropped by the kernel) instead of taking every core
	// and all memory from established connections.
	DefaultMaxHandshakes = 256
	// DefaultTicketRotation is how often a new session ticket key is made; DefaultTicketKeys
	// keys are kept, so a ticket resumes for 2-3 hours.
	DefaultTicketRotation = time.Hour
	DefaultTicketKeys     = 3
)

// Config configures a Server.
type Config struct {
	// Enroll hands the engine its end of the socketpair of a connection whose handshake
	// succeeded. The PROXY v2 header and then the decrypted stream arrive on it. Enroll takes
	// ownership of the conn (it closes it on failure). Required.
	Enroll func(net.Conn) error
	// MinVersion and MaxVersion restrict TLS versions (tls.VersionTLS12, tls.VersionTLS13);
	// zero: TLS 1.2 to 1.3.
	MinVersion, MaxVersion uint16
	// NextProtos is offered by ALPN; nil: ["http/1.1"], or ["h2", "http/1.1"] with ServeH2.
	NextProtos []string
	// ServeH2, when set, serves a connection whose ALPN chose h2 (package h2edge), on the
	// connection's goroutine, instead of handing the stream to Enroll; it returns when the
	// connection ends.
	ServeH2 func(tc *tls.Conn, info *proxyproto.Info)
	// Relay chooses how established connections are relayed to the engine: RelayPoller (the
	// default, "") runs them on the process's relay pollers (sockpair.Poller: one goroutine
	// per poller, no goroutine per connection), RelayGoroutines on two goroutines each
	// (sockpair.Relay), RelayLoop hands the TCP connection itself to an event loop that
	// drives the record layer (EnrollLoop; no socketpair; connections whose ALPN chose h2 too,
	// unless ServeH2 serves them). docs/ARCHITECTURE.md has the measurements.
	Relay string
	// EnrollLoop hands the engine a connection whose handshake succeeded, for RelayLoop:
	// nc is the TCP connection, tc the tls.Conn over rec (which wraps nc; the engine switches
	// it to fed mode, sockpair.Conn.Feed), info what a PROXY header would have said. It takes
	// ownership of nc and tc; when it returns nil it calls done once the connection is over
	// (Stats.Active counts it until then). Required with RelayLoop.
	EnrollLoop       func(nc net.Conn, tc *tls.Conn, rec *sockpair.Conn, info *proxyproto.Info, done func()) error
	HandshakeTimeout time.Duration
	MaxHandshakes    int
	TicketRotation   time.Duration
	Logger           *slog.Logger
	// LogEvery bounds the rate of handshake failure log lines (one per LogEvery, the others
	// counted and summed in the next line); zero: one per second.
	LogEvery time.Duration
}

// Relay modes of Config.Relay.
const (
	RelayPoller     = "poller"
	RelayGoroutines = "goroutines"
	RelayLoop       = "loop"
)

// Stats are the server's counters since its start.
type Stats struct {
	Handshakes       uint64 // completed handshakes
	Resumed          uint64 // of which resumed from a session ticket
	Failures         [nReasons]uint64
	InHandshake      int64 // handshakes running now
	Active           int64 // established connections being relayed now
	ClientCerts      uint64
	ClientCertsValid uint64
}

// Failure reasons, the label values of the failure counter.
const (
	ReasonTimeout   = iota // the handshake did not finish in time
	ReasonPlaintext        // plain HTTP sent to the TLS port (answered 400)
	ReasonNoCert           // no certificate for the server name (empty table)
	ReasonProtocol         // any other handshake error: bad record, version, cipher, alert
	ReasonHandoff          // the engine could not take the connection
	nReasons
)

// ReasonNames are the label values of the failure reasons, by index.
var ReasonNames = [nReasons]string{"timeout", "plaintext", "no_certificate", "protocol", "handoff"}

// Server terminates TLS on the connections of one or more listeners.
type Server struct {
	cfg   Config
	log   *slog.Logger
	table atomic.Pointer[Table]
	base  *tls.Config // no client certificate requested
	mtls  *tls.Config // a client certificate requested (hosts of mTLS routes)
	// byVersion are base and mtls for each allowed (min, max) pair, indexed by
	// [min-TLS1.2][max-TLS1.2]: a table's version setting picks one, no config made per handshake.
	byVersion [2][2]*[2]*tls.Config
	tickets   *ticketKeys
	staples   *stapler
	slots     chan struct{}
	kick      chan struct{} // a new table: refresh staples now

	handshakes, resumed, clientCerts, clientValid atomic.Uint64
	failures                                      [nReasons]atomic.Uint64
	inHandshake, active                           atomic.Int64

	logMu         sync.Mutex
	logNext       time.Time
	logSuppressed int

	wg         sync.WaitGroup
	background sync.Once // ticket rotation and OCSP refresh, started by the first Serve
}

// ErrNoCertificate is the handshake error when the table has no certificate at all.
var ErrNoCertificate = errors.New("tlsedge: no certificate configured")

// New returns a Server with an empty table; call SetTable before serving.
func New(cfg Config) (*Server, error) {
	if cfg.Enroll == nil {
		return nil, errors.New("cannot configure TLS listener: Enroll is required")
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.MaxVersion == 0 {
		cfg.MaxVersion = tls.VersionTLS13
	}
	if cfg.MinVersion < tls.VersionTLS12 || cfg.MaxVersion > tls.VersionTLS13 || cfg.MinVersion > cfg.MaxVersion {
		return nil, fmt.Errorf("cannot configure TLS listener: versions %s to %s: only TLS 1.2 to 1.3 are supported",
			tls.VersionName(cfg.MinVersion), tls.VersionName(cfg.MaxVersion))
	}
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"http/1.1"}
		if cfg.ServeH2 != nil {
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
	}
	switch cfg.Relay {
	case "":
		cfg.Relay = RelayPoller
	case RelayPoller, RelayGoroutines:
	case RelayLoop:
		if cfg.EnrollLoop == nil {
			return nil, fmt.Errorf("cannot configure TLS listener: relay %q needs EnrollLoop", cfg.Relay)
		}
	default:
		return nil, fmt.Errorf("cannot configure TLS listener: relay %q: want %q, %q or %q", cfg.Relay, RelayPoller, RelayGoroutines, RelayLoop)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.TicketRotation <= 0 {
		cfg.TicketRotation = DefaultTicketRotation
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s := &Server{cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxHandshakes), kick: make(chan struct{}, 1)}
	tk, err := newTicketKeys(DefaultTicketKeys)
	if err != nil {
		return nil, err
	}
	s.tickets = tk
	s.base = &tls.Config{
		MinVersion:     cfg.MinVersion,
		MaxVersion:     cfg.MaxVersion,
		NextProtos:     cfg.NextProtos,
		GetCertificate: s.getCertificate,
	}
	s.mtls = s.base.Clone()
	s.mtls.ClientAuth = tls.RequestClientCert // verified against the store's CAs after the handshake
	s.base.GetConfigForClient = s.configFor
	tk.attach(s.base)
	tk.attach(s.mtls)
	for lo := range 2 {
		for hi := lo; hi < 2; hi++ {
			minV, maxV := tls.VersionTLS12+uint16(lo), tls.VersionTLS12+uint16(hi)
			if minV == cfg.MinVersion && maxV == cfg.MaxVersion {
				s.byVersion[lo][hi] = &[2]*tls.Config{s.base, s.mtls}
				continue
			}
			b, m := s.base.Clone(), s.mtls.Clone()
			b.GetConfigForClient, m.GetConfigForClient = nil, nil
			b.MinVersion, b.MaxVersion, m.MinVersion, m.MaxVersion = minV, maxV, minV, maxV
			tk.attach(b)
			tk.attach(m)
			s.byVersion[lo][hi] = &[2]*tls.Config{b, m}
		}
	}
	s.staples = newStapler()
	s.table.Store(NewTable(nil, TableOptions{}))
	return s, nil
}

// SetTable makes t the SNI table of every handshake that starts after it returns. OCSP staples
// already fetched for its certificates are kept; new ones are fetched by the background refresh
// (Serve), never by a handshake.
func (s *Server) SetTable(t *Table) {
	s.staples.apply(t)
	s.table.Store(t)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Table returns the current table.
func (s *Server) Table() *Table { return s.table.Load() }

// RotateTickets makes a new session ticket key now (it also happens every TicketRotation).
func (s *Server) RotateTickets() error { return s.tickets.rotate() }

// Stats returns the counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	st := Stats{
		Handshakes: s.handshakes.Load(), Resumed: s.resumed.Load(),
		InHandshake: s.inHandshake.Load(), Active: s.active.Load(),
		ClientCerts: s.clientCerts.Load(), ClientCertsValid: s.clientValid.Load(),
	}
	for i := range st.Failures {
		st.Failures[i] = s.failures[i].Load()
	}
	return st
}

// edgeConn is the raw connection of one handshake with the table it loaded, so that every
// callback of that handshake uses one table.
type edgeConn struct {
	*sockpair.Conn // lets the relay read without a failed read per record
	tbl            *Table
}

func (s *Server) configFor(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	ec, ok := hello.Conn.(*edgeConn)
	if !ok {
		return nil, nil
	}
	minV, maxV := s.versions(ec.tbl)
	pair := s.byVersion[minV-tls.VersionTLS12][maxV-tls.VersionTLS12]
	if ec.tbl.wantsClientCert(hello.ServerName) {
		return pair[1], nil
	}
	if pair[0] == s.base {
		return nil, nil
	}
	return pair[0], nil
}

// versions are the TLS versions of a handshake that started with tbl: the table's setting (the
// global tlsSettings) where it has one, else the server's (the --tls-min-version flag). When a
// set bound crosses the server's other bound, the set one wins: a setting of minVersion 1.3
// under a server maximum of 1.2 gives 1.3 to 1.3.
func (s *Server) versions(tbl *Table) (minV, maxV uint16) {
	minV, maxV = s.cfg.MinVersion, s.cfg.MaxVersion
	o := &tbl.opts
	if o.MinVersion != 0 {
		minV = o.MinVersion
	}
	if o.MaxVersion != 0 {
		maxV = o.MaxVersion
	}
	minV = min(max(minV, tls.VersionTLS12), tls.VersionTLS13)
	maxV = min(max(maxV, tls.VersionTLS12), tls.VersionTLS13)
	if minV > maxV {
		if o.MaxVersion == 0 || o.MinVersion != 0 && o.MaxVersion != 0 {
			maxV = minV
		} else {
			minV = maxV
		}
	}
	return minV, maxV
}

func (s *Server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	tbl := s.table.Load()
	if ec, ok := hello.Conn.(*edgeConn); ok {
		tbl = ec.tbl
	}
	c := tbl.Lookup(hello.ServerName)
	if c == nil {
		return nil, ErrNoCertificate
	}
	return c.served(), nil
}

// Serve accepts TLS connections on ln until ctx is done or ln fails; it then closes ln and
// waits for the handshakes it started (relayed connections close with the engine).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	s.background.Do(func() {
		go s.rotateTickets(ctx)
		go s.refreshStaples(ctx)
	})
	defer s.wg.Wait()
	var backoff time.Duration
	for {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		nc, err := ln.Accept()
		if err != nil {
			<-s.slots
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// EMFILE and friends: wait and retry rather than stop serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logLimited("TLS accept failed", "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go s.serveConn(nc)
	}
}

func (s *Server) rotateTickets(ctx context.Context) {
	t := time.NewTicker(s.cfg.TicketRotation)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.tickets.rotate(); err != nil {
				s.log.Error("session ticket key not rotated", "err", err)
			}
		}
	}
}

// OCSPRefresh is how often the stapler looks for responses to fetch or renew.
var OCSPRefresh = time.Minute

func (s *Server) refreshStaples(ctx context.Context) {
	t := time.NewTicker(OCSPRefresh)
	defer t.Stop()
	for {
		s.staples.refresh(ctx, s.table.Load())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// plainHTTP400 is the answer to plain HTTP on the TLS port (nginx answers 400 too).
var plainHTTP400 = func() string {
	body := `{"Otoroshi-Error":"The plain HTTP request was sent to HTTPS port"}`
	return "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

// serveConn does the handshake of nc under a slot, then relays it.
func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	s.inHandshake.Add(1)
	ec := &edgeConn{Conn: sockpair.Wrap(nc), tbl: s.table.Load()}
	tc := tls.Server(ec, s.base)
	_ = nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	err := tc.Handshake()
	s.inHandshake.Add(-1)
	<-s.slots
	if err != nil {
		s.handshakeFailed(nc, err)
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	s.handshakes.Add(1)
	cs := tc.ConnectionState()
	if cs.DidResume {
		s.resumed.Add(1)
	}
	info := s.describe(nc, ec.tbl, &cs)
	if cs.NegotiatedProtocol == "h2" && s.cfg.ServeH2 != nil {
		s.active.Add(1)
		s.cfg.ServeH2(tc, &info)
		s.active.Add(-1)
		_ = tc.Close()
		return
	}
	if err := s.handoff(tc, &info); err != nil {
		s.failures[ReasonHandoff].Add(1)
		s.logLimited("TLS connection not handed to the engine", "client", nc.RemoteAddr().String(), "err", err)
		_ = tc.Close()
	}
}

// handshakeFailed counts err by reason and logs it at a bounded rate.
func (s *Server) handshakeFailed(nc net.Conn, err error) {
	var rh tls.RecordHeaderError
	var ne net.Error
	reason := ReasonProtocol
	switch {
	case errors.As(err, &rh) && rh.Conn != nil:
		reason = ReasonPlaintext
		_ = rh.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = rh.Conn.Write([]byte(plainHTTP400))
	case errors.As(err, &ne) && ne.Timeout():
		reason = ReasonTimeout
	case errors.Is(err, ErrNoCertificate):
		reason = ReasonNoCert
	}
	s.failures[reason].Add(1)
	s.logLimited("TLS handshake failed", "client", nc.RemoteAddr().String(), "reason", ReasonNames[reason], "err", err)
}

// logLimited writes at most one line per LogEvery; lines in between are only counted, and the
// next line says how many were left out. A client cannot make the log grow faster than that.
func (s *Server) logLimited(msg string, args ...any) {
	now := time.Now()
	s.logMu.Lock()
	if now.Before(s.logNext) {
		s.logSuppressed++
		s.logMu.Unlock()
		return
	}
	n := s.logSuppressed
	s.logSuppressed = 0
	s.logNext = now.Add(s.cfg.LogEvery)
	s.logMu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	s.log.Info(msg, args...)
}

// describe builds the PROXY header fields of an established connection, verifying a client
// certificate against the store's CAs of tbl.
func (s *Server) describe(nc net.Conn, tbl *Table, cs *tls.ConnectionState) proxyproto.Info {
	in := proxyproto.Info{
		Src:        addrPort(nc.RemoteAddr()),
		Dst:        addrPort(nc.LocalAddr()),
		ALPN:       cs.NegotiatedProtocol,
		Authority:  strings.ToLower(cs.ServerName),
		SSL:        true,
		TLSVersion: versionName(cs.Version),
		Cipher:     tls.CipherSuiteName(cs.CipherSuite),
	}
	if len(cs.PeerCertificates) == 0 {
		return in
	}
	leaf := cs.PeerCertificates[0]
	s.clientCerts.Add(1)
	in.ClientCert = true
	in.ClientCN = leaf.Subject.CommonName
	in.Subject = leaf.Subject.String()
	in.Issuer = leaf.Issuer.String()
	if leaf.SerialNumber != nil {
		in.Serial = leaf.SerialNumber.Text(16)
	}
	in.Fingerprint = pki.Fingerprint(leaf)
	if tbl.caPool != nil {
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		chains, err := leaf.Verify(x509.VerifyOptions{Roots: tbl.caPool, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err == nil {
			in.VerifiedBy = tbl.verifiedBy(chains)
			if in.VerifiedBy != "" {
				s.clientValid.Add(1)
			}
		}
	}
	return in
}

func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	}
	return tls.VersionName(v)
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}

// handoff creates the socketpair, writes the PROXY header on our end, gives the other end to
// the engine and starts the relay, which runs until either side closes.
func (s *Server) handoff(tc *tls.Conn, in *proxyproto.Info) error {
	if s.cfg.Relay == RelayLoop {
		return s.handoffLoop(tc, in) // h2 too: ServeH2 took it already when it is set
	}
	hdr := proxyproto.Append(make([]byte, 0, 256), in)
	if s.cfg.Relay == RelayPoller || s.cfg.Relay == RelayLoop {
		return s.handoffPoller(tc, hdr)
	}
	engineEnd, ours, err := sockpair.New()
	if err != nil {
		return err
	}
	if _, err := ours.Write(hdr); err != nil {
		_ = engineEnd.Close()
		_ = ours.Close()
		return fmt.Errorf("cannot write PROXY header: %w", err)
	}
	if err := s.cfg.Enroll(engineEnd); err != nil {
		_ = ours.Close()
		return fmt.Errorf("cannot enroll connection: %w", err)
	}
	// The relay runs on fresh goroutines: this one's stack grew during the handshake, and an
	// idle connection would keep it (measured: ~14 KiB less per idle connection).
	s.active.Add(1)
	go func() {
		defer s.active.Add(-1)
		sockpair.Relay(tc, ours)
	}()
	return nil
}

// handoffPoller is handoff onto a relay poller.
func (s *Server) handoffPoller(tc *tls.Conn, hdr []byte) error {
	ec, ok := tc.NetConn().(*edgeConn)
	if !ok {
		return errors.New("BUG: TLS connection not over an edgeConn")
	}
	p, err := sockpair.Shared()
	if err != nil {
		return err
	}
	engineEnd, ours, err := sockpair.NewRaw()
	if err != nil {
		return err
	}
	// A fresh socketpair's buffer takes the whole header at once.
	if n, err := unix.Write(ours, hdr); err != nil || n != len(hdr) {
		_ = engineEnd.Close()
		_ = unix.Close(ours)
		return fmt.Errorf("cannot write PROXY header: %d of %d bytes: %v", n, len(hdr), err)
	}
	if err := s.cfg.Enroll(engineEnd); err != nil {
		_ = unix.Close(ours)
		return fmt.Errorf("cannot enroll connection: %w", err)
	}
	s.active.Add(1)
	if err := p.Add(tc, ec.Conn, ours, func() { s.active.Add(-1) }); err != nil {
		s.active.Add(-1)
		_ = unix.Close(ours)
		return err
	}
	return nil
}

// handoffLoop gives the TCP connection of tc to an event loop, which drives the record layer
// from then on.
func (s *Server) handoffLoop(tc *tls.Conn, in *proxyproto.Info) error {
	ec, ok := tc.NetConn().(*edgeConn)
	if !ok {
		return errors.New("BUG: TLS connection not over an edgeConn")
	}
	s.active.Add(1)
	if err := s.cfg.EnrollLoop(ec.Conn.Conn, tc, ec.Conn, in, func() { s.active.Add(-1) }); err != nil {
		s.active.Add(-1)
		return fmt.Errorf("cannot enroll connection: %w", err)
	}
	return nil
}
