package sockpair

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/torii-gateway/torii/pki"
)

// pollerConn is one TLS connection relayed by a Poller: the client's side, the engine's side
// and a channel closed when the poller ends the relay.
type pollerConn struct {
	client *tls.Conn
	engine net.Conn
	ended  chan struct{}
}

func newPollerConn(t *testing.T, p *Poller) *pollerConn {
	t.Helper()
	m, err := pki.Mint(pki.MintOptions{CommonName: "relay.test", Hosts: []string{"relay.test"}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair([]byte(m.ChainPEM), []byte(m.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pc := &pollerConn{ended: make(chan struct{})}
	served := make(chan error, 1)
	engines := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		c := Wrap(nc)
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pair}})
		if err := tc.Handshake(); err != nil {
			served <- err
			return
		}
		engine, ours, err := NewRaw()
		if err != nil {
			served <- err
			return
		}
		engines <- engine
		served <- p.Add(tc, c, ours, func() { close(pc.ended) })
	}()
	roots := x509.NewCertPool()
	roots.AddCert(m.Cert)
	pc.client, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "relay.test", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	pc.engine = <-engines
	t.Cleanup(func() { _ = pc.client.Close(); _ = pc.engine.Close() })
	return pc
}

func testPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPollerExchanges(t *testing.T) {
	p := testPoller(t)
	conns := []*pollerConn{newPollerConn(t, p), newPollerConn(t, p), newPollerConn(t, p)}
	buf := make([]byte, 64)
	for i := range 200 {
		for j, pc := range conns {
			req := []byte("GET / HTTP/1.1\r\n\r\n")
			req[4] = byte('a' + (i+j)%26)
			if _, err := pc.client.Write(req); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(pc.engine, buf[:len(req)]); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:len(req)], req) {
				t.Fatalf("engine got %q, want %q", buf[:len(req)], req)
			}
			resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			if _, err := pc.engine.Write(resp); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(pc.client, buf[:len(resp)]); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:len(resp)], resp) {
				t.Fatalf("client got %q, want %q", buf[:len(resp)], resp)
			}
		}
	}
}

// TestPollerBulk sends 6 MiB each way while the receiving sides start late and read in small
// pieces, so that both directions fill the sockets and wait on each other.
func TestPollerBulk(t *testing.T) {
	p := testPoller(t)
	pc := newPollerConn(t, p)
	up, down := make([]byte, 6<<20), make([]byte, 6<<20)
	_, _ = rand.Read(up)
	_, _ = rand.Read(down)
	errs := make(chan error, 4)
	send := func(w io.Writer, b []byte) { _, err := w.Write(b); errs <- err }
	got := func(r io.Reader, want []byte) {
		time.Sleep(200 * time.Millisecond)
		b := make([]byte, len(want))
		for off := 0; off < len(b); {
			n, err := r.Read(b[off:min(off+3000, len(b))])
			off += n
			if err != nil {
				errs <- err
				return
			}
		}
		if !bytes.Equal(b, want) {
			errs <- errors.New("bytes differ")
			return
		}
		errs <- nil
	}
	go send(pc.client, up)
	go send(pc.engine, down)
	go got(pc.engine, up)
	go got(pc.client, down)
	for range 4 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("bulk transfer stuck")
		}
	}
}

// TestPollerEnds: the peer's end of stream reaches the engine as end of stream, and the
// engine's close, once its last bytes are out, ends the TLS connection.
func TestPollerEnds(t *testing.T) {
	p := testPoller(t)
	pc := newPollerConn(t, p)
	if _, err := pc.client.Write([]byte("last request")); err != nil {
		t.Fatal(err)
	}
	if err := pc.client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(pc.engine)
	if err != nil || string(b) != "last request" {
		t.Fatalf("engine read %q, %v; want the request then end of stream", b, err)
	}
	if _, err := pc.engine.Write([]byte("last response")); err != nil {
		t.Fatal(err)
	}
	_ = pc.engine.Close()
	b, err = io.ReadAll(pc.client)
	if err != nil || string(b) != "last response" {
		t.Fatalf("client read %q, %v; want the response then end of stream", b, err)
	}
	select {
	case <-pc.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("relay did not end")
	}
}

// TestPollerStalledPeer: a peer that reads nothing is cut off after writeTimeout.
func TestPollerStalledPeer(t *testing.T) {
	defer func(w, s time.Duration) { writeTimeout, sweepEvery = w, s }(writeTimeout, sweepEvery)
	writeTimeout, sweepEvery = 300*time.Millisecond, 50*time.Millisecond
	p := testPoller(t)
	pc := newPollerConn(t, p)
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := pc.engine.Write(chunk); err != nil {
				return
			}
		}
	}()
	select {
	case <-pc.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("stalled peer not cut off")
	}
}
