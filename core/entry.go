package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/panjf2000/gnet/v2"

	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/httpparse"
	"github.com/torii-gateway/torii/proxyproto"
)

// The way in. A client connection reaches the event loops one of two ways,
// and from its first request head on both take the same steps (routing,
// policies, API keys and quotas, target choice, the upstream pool, the
// event record):
//
//   - the plaintext listener (accept.go): the socket's peer is the client;
//   - Server.Enroll: a connection accepted and served elsewhere, typically
//     one end of a Unix socketpair whose other end a goroutine feeds, such as
//     the TLS terminator (package tlsedge) writing decrypted bytes. What the
//     loop cannot learn from the socket (the real client address, TLS, SNI,
//     ALPN, the client certificate) comes with it as a ClientInfo, either
//     given to Enroll or, with a nil one, read from a PROXY protocol header
//     (version 2, or version 1) at the start of the stream.
//
// Behind a TCP load balancer that writes PROXY headers, Config.ProxyProtocol
// makes the plaintext listener expect one on every connection too. A client
// expecting a header starts in csPreface: readPreface parses it from the
// peeked bytes (an address-only version 2 header costs no allocation, the
// TLS details one per connection, none per request), then the connection is
// in csHead like any other. A missing or malformed header is answered 400
// and the connection closed; a LOCAL (or v1 UNKNOWN) header, a load
// balancer's own health check, keeps the socket's address.
//
// What the metadata changes downstream: ClientInfo.Addr is cc.remote, the
// address the IP lists and per-IP throttling judge and X-Forwarded-For and
// the event's "from" carry; TLS sets X-Forwarded-Proto https and the event's
// to.scheme (event.FlagTLS); ALPN "h2" makes the event's protocol HTTP/2.0
// (see alpnH2); the whole ClientInfo is cc.peer (nil for a
// plain client), read-only, for the policy steps that need the rest (the
// mTLS checks of a route).

// ClientInfo is what the engine knows of a client whose connection did not
// come straight from it. Strings are copies, kept for the connection's life.
type ClientInfo struct {
	// Addr is the client's address; invalid keeps the socket's peer.
	Addr netip.AddrPort
	// TLS says the client connected over TLS: the request's scheme is https.
	TLS bool
	// ALPN is the negotiated application protocol, ServerName the SNI,
	// TLSVersion and Cipher the session's ("TLSv1.3", a suite name).
	ALPN, ServerName, TLSVersion, Cipher string
	// ClientCert says the client presented a certificate; ClientCN,
	// ClientSubject and ClientFingerprint (SHA-256, lower-case hex) describe
	// it, and ClientVerifiedBy names the CA that verified it ("" when none
	// did). ClientSerial (lower-case hex, no leading zeros) and ClientIssuer
	// (the issuer DN) are what NgHasClientCertMatchingValidator matches too.
	ClientCert                                                   bool
	ClientCN, ClientSubject, ClientFingerprint, ClientVerifiedBy string
	ClientSerial, ClientIssuer                                   string

	// cert is the client certificate as the connection's event records carry it, made once.
	cert *event.ClientCert
}

// An HTTP/2 front end (issue 18) carries each stream to the engine as an
// HTTP/1.1 request on an enrolled connection whose ClientInfo.ALPN is "h2":
// the event then records the protocol the client spoke, HTTP/2.0.
const (
	alpnH2    = "h2"
	versionH2 = httpparse.Version(20) // "HTTP/2.0" in events (event.appendProtocolName)
)

// enrolled is the gnet connection context of a client handed over by
// Enroll until OnOpen replaces it with a clientConn.
type enrolled struct {
	info *ClientInfo // nil: a PROXY header comes first
}

// ErrNotRunning is returned by Enroll when the engine is not running.
var ErrNotRunning = errors.New("core: proxy engine not running")

// Enroll hands the engine a client connection accepted outside its
// listener. nc must be a syscall.Conn (a TCP connection, one end of a Unix
// socketpair); the engine takes a duplicate of its descriptor, and nc is
// closed when Enroll returns, whatever the outcome. With info nil, the
// stream must begin with a PROXY protocol header (version 2 or 1) that
// describes the client; otherwise info does and no header is expected. The
// connection then counts against Config.MaxConns and is served like one
// from the listener. Enroll blocks until a loop has taken the connection or
// refused it (the loops take connections from the engine's first tick, a
// few milliseconds after Ready); safe from any goroutine. It fails with
// ErrNotRunning before Ready, during shutdown and once Run has returned.
func (s *Server) Enroll(nc net.Conn, info *ClientInfo) error {
	if err := s.waitEnrollable(nc); err != nil {
		return err
	}
	if info != nil {
		cp := *info
		info = &cp
	}
	ch, err := s.register(nc, &enrolled{info: info})
	if err != nil {
		return err
	}
	if res := <-ch; res.Err != nil {
		return fmt.Errorf("cannot enroll client connection: %w", res.Err)
	}
	return nil
}

// waitEnrollable waits until the loops take enrolled connections. Before
// Ready, during shutdown and once Run has returned it closes nc and fails
// with ErrNotRunning.
func (s *Server) waitEnrollable(nc net.Conn) error {
	select {
	case <-s.booted:
	default:
		_ = nc.Close()
		return ErrNotRunning
	}
	select {
	case <-s.loopsUp:
	case <-s.done:
	}
	if s.draining.Load() || isClosed(s.done) {
		_ = nc.Close()
		return ErrNotRunning
	}
	return nil
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// register gives nc to the event loop with the fewest connections, with ctx
// as its gnet connection context (nil for a listener's plain client). gnet
// duplicates the descriptor on a worker goroutine and closes nc; the
// outcome comes on the channel. nc is closed when register fails.
func (s *Server) register(nc net.Conn, ctx any) (<-chan gnet.RegisteredResult, error) {
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	c := gnet.NewNetConnContext(context.Background(), nc)
	if ctx != nil {
		c = gnet.NewContext(c, ctx)
	}
	ch, err := eng.Register(c)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	return ch, nil
}

// applyClientInfo makes info cc's view of its client (see ClientInfo). On
// cc's loop, before its first request.
func (cc *clientConn) applyClientInfo(info *ClientInfo) {
	if info.ClientCert && info.cert == nil {
		info.cert = &event.ClientCert{Subject: info.ClientSubject, Fingerprint: info.ClientFingerprint, VerifiedBy: info.ClientVerifiedBy}
	}
	cc.peer = info
	if info.Addr.IsValid() {
		cc.remote = info.Addr.Addr().Unmap()
	}
	cc.tls = info.TLS
}

// readPreface parses the PROXY header cc's stream starts with and moves cc
// to csHead. It reports whether processing may go on: false when more bytes
// are needed, or when the header was refused (answered 400, closing). On
// cc's loop; the header's bytes are consumed before it returns.
func (lp *loop) readPreface(cc *clientConn) bool {
	buf := lp.inbound(cc)
	if len(buf) == 0 {
		return false
	}
	var h proxyproto.Header
	n, err := proxyproto.Parse(buf, &h)
	if err == proxyproto.ErrNotProxy {
		n, err = proxyproto.ParseV1(buf, &h)
	}
	switch err {
	case nil:
	case proxyproto.ErrNeedMore:
		return false
	default:
		lp.s.log.Debug("client connection without a valid PROXY header", "err", err)
		cc.state = csHead // answered like a malformed request head
		cc.wantsHTML = false
		lp.replyError(cc, errBadRequest, true)
		return false
	}
	if !h.Local {
		cc.applyHeader(&h)
	}
	lp.consume(cc, n)
	cc.state = csHead
	if lp.s.cfg.HTTP2.Enabled && cc.peer != nil && cc.peer.ALPN == alpnH2 && cc.h2 == nil {
		lp.becomeH2(cc)
		return false
	}
	return true
}

// applyHeader takes what a PROXY header says of the client. An address-only
// header allocates nothing; TLS details are copied into a ClientInfo kept
// for the connection. h's spans die with the peeked bytes.
func (cc *clientConn) applyHeader(h *proxyproto.Header) {
	if h.Src.IsValid() {
		cc.remote = h.Src.Addr().Unmap()
	}
	cc.tls = h.SSL
	if !h.SSL && len(h.ALPN) == 0 && len(h.Authority) == 0 && !h.ClientCert {
		return
	}
	cc.peer = &ClientInfo{
		Addr: h.Src, TLS: h.SSL, ALPN: string(h.ALPN), ServerName: string(h.Authority),
		TLSVersion: string(h.TLSVersion), Cipher: string(h.Cipher), ClientCert: h.ClientCert,
		ClientCN: string(h.ClientCN), ClientSubject: string(h.Subject),
		ClientFingerprint: string(h.Fingerprint), ClientVerifiedBy: string(h.VerifiedBy),
		ClientSerial: string(h.Serial), ClientIssuer: string(h.Issuer),
	}
	if h.ClientCert {
		p := cc.peer
		p.cert = &event.ClientCert{Subject: p.ClientSubject, Fingerprint: p.ClientFingerprint, VerifiedBy: p.ClientVerifiedBy}
	}
}
