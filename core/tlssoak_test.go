package core_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/internal/testkit"
)

// The random soak of HTTP/1.1 over TLS on the loops' record layer (EnrollTLS): keep-alive and
// pipelined exchanges with bodies both ways, 64 KiB responses to clients that read slowly or
// stop reading (HighWater 4 KiB: the backend is held off the loop), uploads to a backend that
// reads slowly (the client held off the loop), WebSocket tunnels, and connections ending
// abruptly in TLS ways. Every response read whole must be its own request's (the backend
// echoes the request's id into it).

// soakBody is the body of id's request or response of n bytes: id's bytes over and over, so
// that a body that reached the wrong client shows.
func soakBody(id string, n int) []byte {
	b := bytes.Repeat([]byte(id+"|"), n/(len(id)+1)+1)
	return b[:n]
}

// serveTLSSoak serves the soak's backend connections: each request's body is read (when X-Slow
// is set, after 100 ms, in 16 KiB pieces 1 ms apart) and checked against soakBody; the answer
// carries the request's X-Id and X-Got ("n ok" when the body was the expected one) and soakBody(id,
// X-Size), chunked when X-Chunked is set. An Upgrade request gets a 101 and an echo of the
// tunnel's bytes.
func serveTLSSoak(c net.Conn) {
	br, bw := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		id := req.Header.Get("X-Id")
		var body []byte
		if req.Header.Get("X-Slow") != "" {
			time.Sleep(100 * time.Millisecond)
			piece := make([]byte, 16<<10)
			for err == nil {
				var n int
				n, err = req.Body.Read(piece)
				body = append(body, piece[:n]...)
				time.Sleep(time.Millisecond)
			}
			if err != io.EOF {
				return
			}
		} else if body, err = io.ReadAll(req.Body); err != nil {
			return
		}
		got := "bad"
		if bytes.Equal(body, soakBody(id, len(body))) {
			got = "ok"
		}
		if req.Header.Get("Upgrade") != "" {
			fmt.Fprintf(bw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Id: %s\r\n\r\n",
				testkit.WSAccept(req.Header.Get("Sec-WebSocket-Key")), id)
			if bw.Flush() == nil {
				_, _ = io.Copy(c, br)
			}
			return
		}
		size, _ := strconv.Atoi(req.Header.Get("X-Size"))
		resp := soakBody(id, size)
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nX-Id: %s\r\nX-Got: %d %s\r\n", id, len(body), got)
		if req.Header.Get("X-Chunked") == "" {
			fmt.Fprintf(bw, "Content-Length: %d\r\n\r\n", size)
			_, _ = bw.Write(resp)
		} else {
			bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
			for k := 0; len(resp) > 0; k++ {
				n := min(len(resp), 1+k*7919%(size+1))
				fmt.Fprintf(bw, "%x\r\n%s\r\n", n, resp[:n])
				resp = resp[n:]
			}
			bw.WriteString("0\r\n\r\n")
		}
		if bw.Flush() != nil {
			return
		}
	}
}

// startSmallBufBackend is startRawBackend with a receive buffer of 8 KiB on its listener
// (inherited by the connections; set on a connection, Linux stalls it once it shrinks the
// window): an upload the backend reads slowly backs up into the proxy's outbound to it, past
// HighWater, and the proxy pauses the TLS client (tlsloop.go pauseTLS, holdTLS).
func startSmallBufBackend(t testing.TB, fn func(c net.Conn)) string {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<10) })
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveRaw(t, ln, fn)
}

// tlsSoakExchange is one request of a soak connection and what the client expects back.
type tlsSoakExchange struct {
	id      string
	req     []byte
	size    int // of the response body
	body    int // of the request body
	upgrade bool
}

// newTLSSoakExchange draws a request: a GET or a POST with a body (Content-Length or chunked)
// of 0 B to 8 MiB, to a backend that may read it slowly, for a response of 13 B or 64 KiB
// (Content-Length or chunked); an Upgrade when upgrade is set.
func newTLSSoakExchange(id string, rnd func() byte, upgrade bool) tlsSoakExchange {
	x := tlsSoakExchange{id: id, size: []int{13, 13, 1000, 64 << 10, 64 << 10}[int(rnd())%5], upgrade: upgrade}
	var h strings.Builder
	method := "GET"
	if !upgrade && rnd()%2 == 0 {
		method = "POST"
		x.body = []int{0, 1, 700, 20000, 100000, 1 << 20}[int(rnd())%6]
	}
	fmt.Fprintf(&h, "%s /soak/%s HTTP/1.1\r\nHost: bench.test\r\nX-Id: %s\r\nX-Size: %d\r\n", method, id, id, x.size)
	if upgrade {
		x.size = 0
		h.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
	}
	if rnd()%2 == 0 {
		h.WriteString("X-Chunked: 1\r\n")
	}
	if x.body > 0 && rnd()%3 == 0 {
		h.WriteString("X-Slow: 1\r\n")
		if x.body >= 100000 && rnd()%2 == 0 {
			// More than the kernel's buffers hold: the proxy's outbound to the backend grows
			// past HighWater and the client is paused, then held off the loop.
			x.body = 4 << 20
		}
	}
	body := soakBody(id, x.body)
	switch {
	case method == "GET":
		h.WriteString("\r\n")
	case rnd()%2 == 0:
		fmt.Fprintf(&h, "Content-Length: %d\r\n\r\n%s", x.body, body)
	default:
		h.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for len(body) > 0 {
			n := min(len(body), 1+int(rnd())*int(rnd()))
			fmt.Fprintf(&h, "%x\r\n%s\r\n", n, body[:n])
			body = body[n:]
		}
		h.WriteString("0\r\n\r\n")
	}
	x.req = []byte(h.String())
	return x
}

// readTLSSoakResponse reads x's response from br, slowly (in 2 KiB pieces with pauses) when
// slow is set, and checks it is x's: status, X-Id, X-Got and body.
func readTLSSoakResponse(br *bufio.Reader, x tlsSoakExchange, slow bool) error {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("response to %s: %w", x.id, err)
	}
	if x.upgrade {
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Id") != x.id {
			return fmt.Errorf("upgrade %s: %s, X-Id %q", x.id, resp.Status, resp.Header.Get("X-Id"))
		}
		return nil
	}
	var body []byte
	if slow {
		piece := make([]byte, 2<<10)
		for err == nil {
			var n int
			n, err = resp.Body.Read(piece)
			body = append(body, piece[:n]...)
			time.Sleep(time.Millisecond)
		}
		if err == io.EOF {
			err = nil
		}
	} else {
		body, err = io.ReadAll(resp.Body)
	}
	if err != nil {
		return fmt.Errorf("body of the response to %s, after %d bytes: %w", x.id, len(body), err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("X-Id") != x.id || resp.Header.Get("X-Got") != fmt.Sprintf("%d ok", x.body) {
		return fmt.Errorf("response to %s: %s, X-Id %q, X-Got %q (want %d ok)", x.id, resp.Status, resp.Header.Get("X-Id"), resp.Header.Get("X-Got"), x.body)
	}
	if !bytes.Equal(body, soakBody(x.id, x.size)) {
		i := 0
		for i < min(len(body), x.size) && body[i] == soakBody(x.id, x.size)[i] {
			i++
		}
		return fmt.Errorf("body of the response to %s: %d bytes, want %d, differing from byte %d: %.60q", x.id, len(body), x.size, i, body[i:])
	}
	return nil
}

// How a soak connection ends abruptly, at the point drawn (mid-request, mid-response, or
// after its last request while it does not read): the first four as runTLSScript's.
const (
	h1EndCloseNotify = iota // close_notify (CloseWrite), then read until the server closes
	h1EndTCPClose           // the TCP connection closed, no close_notify
	h1EndTruncated          // a truncated application-data record, then a TCP half-close
	h1EndGarbage            // a record that does not decrypt or does not parse
	h1EndHalfClose          // a TCP half-close without close_notify, then read until the server closes
	h1Endings
)

// runTLSSoakConn runs one soak connection: 1 to 6 batches of exchanges (one in four
// pipelined: 2 or 3 requests in one write), responses read whole, some slowly; the last
// exchange an Upgrade tunnel one time in eight. One connection in two ends abruptly in its
// last batch: part of a request sent, part of a response read, or none read. It returns what
// went wrong with an exchange the client saw through.
func runTLSSoakConn(addr, name string, rnd func() byte) error {
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		return fmt.Errorf("dial: %w (is the server alive?)", err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(15 * time.Second))
	c := tls.Client(raw, &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	defer c.Close()
	if err := c.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w (is the server alive?)", err)
	}
	br := bufio.NewReader(c)
	batches := 1 + int(rnd())%6
	abrupt := rnd()%2 == 0
	for b := range batches {
		last := b == batches-1
		k := 1
		if rnd()%4 == 0 {
			k = 2 + int(rnd())%2
		}
		var xs []tlsSoakExchange
		var wire []byte
		for i := range k {
			up := last && i == k-1 && rnd()%8 == 0
			x := newTLSSoakExchange(fmt.Sprintf("%s.%d.%d", name, b, i), rnd, up)
			xs, wire = append(xs, x), append(wire, x.req...)
		}
		// Where an abrupt end falls: in the request bytes (cut), after reading part of response
		// stop (head + some bytes: partial), or with no response read.
		cut, stop, partial := len(wire), len(xs), -1
		if last && abrupt {
			switch rnd() % 3 {
			case 0:
				cut = int(rnd()) * len(wire) / 256
				stop = 0
			case 1:
				stop = int(rnd()) % len(xs)
				partial = int(rnd()) << 6
			default:
				stop = int(rnd()) % (len(xs) + 1)
			}
		}
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			_, _ = c.Write(wire[:cut])
		}()
		for i, x := range xs[:stop] {
			if err := readTLSSoakResponse(br, x, rnd()%4 == 0); err != nil {
				return fmt.Errorf("%w (batch %d of %d, %d pipelined: %s)", err, b+1, batches, len(xs), heads(xs))
			}
			if x.upgrade && i == len(xs)-1 {
				if err := echoTunnel(c, br, x, rnd); err != nil {
					return err
				}
			}
		}
		if !(last && abrupt) {
			<-wrote
			continue
		}
		if partial >= 0 {
			if resp, err := http.ReadResponse(br, nil); err == nil {
				_, _ = io.CopyN(io.Discard, resp.Body, int64(partial))
			}
		}
		if rnd()%2 == 0 {
			time.Sleep(time.Duration(rnd()%20) * time.Millisecond) // the server's writes back up
		}
		select {
		case <-wrote:
		case <-time.After(time.Second): // the server is not reading: a TCP close ends it
			return nil
		}
		endTLSAbruptly(c, raw, rnd)
		return nil
	}
	return nil
}

// heads is what xs's requests are: their heads.
func heads(xs []tlsSoakExchange) string {
	var hs []string
	for _, x := range xs {
		h, _, _ := bytes.Cut(x.req, []byte("\r\n\r\n"))
		hs = append(hs, fmt.Sprintf("%q", h))
	}
	return strings.Join(hs, ", ")
}

// echoTunnel sends bytes through x's Upgrade tunnel and checks the backend's echo of them.
func echoTunnel(c *tls.Conn, br *bufio.Reader, x tlsSoakExchange, rnd func() byte) error {
	msg := soakBody(x.id, 1+int(rnd())*int(rnd()))
	go func() { _, _ = c.Write(msg) }()
	echo := make([]byte, len(msg))
	if _, err := io.ReadFull(br, echo); err != nil || !bytes.Equal(echo, msg) {
		return fmt.Errorf("tunnel %s: echo of %d bytes: %.60q, %v", x.id, len(msg), echo, err)
	}
	return nil
}

// endTLSAbruptly ends a soak connection in one of the h1End ways.
func endTLSAbruptly(c *tls.Conn, raw net.Conn, rnd func() byte) {
	drain := func() {
		_ = raw.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = io.Copy(io.Discard, c)
	}
	switch rnd() % h1Endings {
	case h1EndCloseNotify:
		_ = c.CloseWrite()
		drain()
	case h1EndTCPClose:
		_ = raw.Close()
	case h1EndTruncated:
		size := 1 + int(rnd())<<6
		tail := []byte{23, 3, 3, byte(size >> 8), byte(size)}
		for range int(rnd()) % size {
			tail = append(tail, rnd())
		}
		_, _ = raw.Write(tail)
		_ = raw.(*net.TCPConn).CloseWrite()
		drain()
	case h1EndGarbage:
		size := 1 + int(rnd())
		tail := []byte{23, 3, 3, byte(size >> 8), byte(size)}
		if rnd()%2 == 0 {
			tail[0], tail[1] = rnd(), rnd()
		}
		for range size {
			tail = append(tail, rnd())
		}
		_, _ = raw.Write(tail)
		drain()
	case h1EndHalfClose:
		_ = raw.(*net.TCPConn).CloseWrite()
		drain()
	}
}

// TestTLSLoopSoak runs runTLSSoakConn on 3 concurrent workers for 3 s or 600 connections
// (TORII_TLSSOAK=60s for longer, as make soak-tls does), against an engine with HighWater 4 KiB,
// while a neighbour HTTP/1.1 client over TLS keeps being served the right answers; then every
// client connection, TLS link and goroutine must go back to the neighbour's and the heap
// near where it started.
func TestTLSLoopSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	srv := startProxy(t, core.Config{Loops: 2, HighWater: h2SoakHighWater}, quickRoute(t, startSmallBufBackend(t, serveTLSSoak)))
	addr, links := startTLSLoopLinks(t, srv, []string{"http/1.1"})
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true},
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}}
	t.Cleanup(tr.CloseIdleConnections)
	nb := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	nbN := 0
	neighbour := func() {
		t.Helper()
		nbN++
		id := fmt.Sprintf("nb%d", nbN)
		req, _ := http.NewRequest("GET", "https://bench.test/neighbour", nil)
		req.Header.Set("X-Id", id)
		req.Header.Set("X-Size", "1000")
		resp, err := nb.Do(req)
		if err != nil {
			t.Fatalf("neighbour: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Id") != id || !bytes.Equal(body, soakBody(id, 1000)) {
			t.Fatalf("neighbour: %s, X-Id %q, %d bytes %.60q, %v", resp.Status, resp.Header.Get("X-Id"), len(body), body, err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	neighbour()
	before, goroutines := heap(), runtime.NumGoroutine()
	dur, limit := 3*time.Second, int64(600)
	if d, err := time.ParseDuration(os.Getenv("TORII_TLSSOAK")); err == nil {
		dur, limit = d, 1<<40
	}
	deadline := time.Now().Add(dur)
	var n atomic.Int64
	var failed atomic.Bool
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for w := range 3 {
		seed := uint64(w + 1)
		rnd := func() byte { // xorshift: the same connections every run (per worker)
			seed ^= seed << 13
			seed ^= seed >> 7
			seed ^= seed << 17
			return byte(seed)
		}
		wg.Go(func() {
			for i := 0; !failed.Load() && time.Now().Before(deadline) && n.Add(1) <= limit; i++ {
				if err := runTLSSoakConn(addr, fmt.Sprintf("w%dc%d", w, i), rnd); err != nil {
					failed.Store(true)
					mu.Lock()
					errs = append(errs, fmt.Errorf("worker %d, connection %d: %w", w, i, err))
					mu.Unlock()
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(100 * time.Millisecond):
		}
		if failed.Load() {
			<-done
			break
		}
		neighbour()
		if c, l := srv.Stats().Conns, links.Load(); c < 1 || l < 1 {
			t.Fatalf("%d client connections, %d TLS links on the loops during the soak, with the neighbour's open", c, l)
		}
		// The test's own 8 MiB uploads (request, backend's copy and check) are in flight.
		if h := heap(); h > before+256<<20 {
			t.Fatalf("heap in use %d MiB after %d connections, %d MiB before", h>>20, n.Load(), before>>20)
		}
	}
	for _, err := range errs {
		t.Error(err)
	}
	neighbour()
	settled := func() bool {
		c, l := srv.Stats().Conns, links.Load()
		return l <= 1 && c == l && runtime.NumGoroutine() <= goroutines+goroutineSlack
	}
	for wait := time.Now().Add(10 * time.Second); !settled() && time.Now().Before(wait); {
		time.Sleep(50 * time.Millisecond)
	}
	if c, l := srv.Stats().Conns, links.Load(); l > 1 || c != l {
		t.Errorf("after the soak: %d client connections, %d TLS links on the loops; want the neighbour's only", c, l)
	}
	if g := runtime.NumGoroutine(); g > goroutines+goroutineSlack {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the soak, %d before:\n%s", g, goroutines, buf[:runtime.Stack(buf, true)])
	}
	neighbour()
	after := heap()
	if after > before+64<<20 {
		t.Errorf("heap in use %d MiB after the soak, %d MiB before", after>>20, before>>20)
	}
	t.Logf("%d connections, %d neighbour requests; heap in use %d -> %d KiB; goroutines %d -> %d; pumped %d",
		min(n.Load(), limit), nbN, before>>10, after>>10, goroutines, runtime.NumGoroutine(), srv.Stats().Pumped)
}
