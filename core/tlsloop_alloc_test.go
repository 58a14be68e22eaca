//go:build !race

package core_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/internal/sockpair"
	"github.com/torii-gateway/torii/pki"
)

// TestTLSLoopGetAllocs: a proxied small GET over TLS, keep-alive, with the record layer on the
// loop (EnrollTLS, tlsedge's relay "loop"), allocates one object per request in steady state:
// the 24-byte reader crypto/tls makes for each record it reads (atLeastReader in
// Conn.readFromUntil), which only a fork of crypto/tls could avoid; the engine's part, the
// record feeding and the plaintext buffers, allocates nothing (a read that finds nothing would
// cost a second one: tlsLink.Read feeds whole records so that none is attempted). The
// TLS client runs in another process (this test binary, TestTLSLoopClientProcess) so that the
// count, process-wide, is the engine's: the handshake is this process's, the fixed backend
// allocates nothing.
func TestTLSLoopGetAllocs(t *testing.T) {
	be := startFixedBackend(t)
	srv := startProxy(t, core.Config{Loops: 1}, quickRoute(t, be))
	m, err := pki.Mint(pki.MintOptions{CommonName: "bench.test", Hosts: []string{"bench.test"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(m.ChainPEM), []byte(m.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	enrolled := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			enrolled <- err
			return
		}
		rec := sockpair.Wrap(nc)
		tc := tls.Server(rec, &tls.Config{Certificates: []tls.Certificate{cert}})
		if err := tc.Handshake(); err != nil {
			_ = nc.Close()
			enrolled <- err
			return
		}
		enrolled <- srv.EnrollTLS(nc, tc, rec, &core.ClientInfo{TLS: true, ServerName: "bench.test", TLSVersion: "TLSv1.3"}, nil)
	}()

	const warm, n = 2000, 5000
	cmd := exec.Command(os.Args[0], "-test.run=^TestTLSLoopClientProcess$")
	cmd.Env = append(os.Environ(), "TORII_TLS_ALLOC_CLIENT="+ln.Addr().String()+","+strconv.Itoa(warm)+","+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := <-enrolled; err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	expect := func(want string) {
		t.Helper()
		line, err := out.ReadString('\n')
		if err != nil || line != want+"\n" {
			t.Fatalf("client process: %q, %v", line, err)
		}
	}
	expect("warm")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _ = stdin.Write([]byte("go\n"))
	expect("done")
	runtime.ReadMemStats(&after)
	per := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.3f allocations per request over TLS on the loop (%d in all, background included)", per, after.Mallocs-before.Mallocs)
	// A few background allocations (tickers, the runtime) may fall in the window; one more per
	// request would be 5000 more.
	if per > 1.02 {
		t.Errorf("%.3f allocations per TLS request on the loop, want 1 (crypto/tls's own)", per)
	}
}

// TestTLSLoopClientProcess is the client of TestTLSLoopGetAllocs, in its own process.
func TestTLSLoopClientProcess(t *testing.T) {
	spec := os.Getenv("TORII_TLS_ALLOC_CLIENT")
	if spec == "" {
		t.Skip("only as TestTLSLoopGetAllocs's client")
	}
	parts := bytes.Split([]byte(spec), []byte(","))
	if len(parts) != 3 {
		t.Fatalf("TORII_TLS_ALLOC_CLIENT=%q", spec)
	}
	addr := string(parts[0])
	warm, _ := strconv.Atoi(string(parts[1]))
	n, _ := strconv.Atoi(string(parts[2]))
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n")
	buf := make([]byte, 64<<10)
	tail := []byte("Hello, World!")
	do := func() {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		got := 0
		for !bytes.HasSuffix(buf[:got], tail) {
			m, err := c.Read(buf[got:])
			if err != nil {
				t.Fatalf("read: %v (%q)", err, buf[:got])
			}
			got += m
		}
	}
	for range warm {
		do()
	}
	fmt.Println("warm")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	for range n {
		do()
	}
	fmt.Println("done")
}
