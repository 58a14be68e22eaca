//go:build !race

package core_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
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
	per := tlsClientAllocs(t, startTLSLoop(t, srv), "http/1.1")
	t.Logf("%.3f allocations per request over TLS on the loop", per)
	// A few background allocations (tickers, the runtime) may fall in the window; one more per
	// request would be 5000 more.
	if per > 1.05 {
		t.Errorf("%.3f allocations per TLS request on the loop, want 1 (crypto/tls's own)", per)
	}
}

// TestTLSLoopH2GetAllocs is TestTLSLoopGetAllocs over HTTP/2 (ALPN h2, the engine's HTTP/2
// server on the loop's record layer; one stream after the other, as TestProxyH2GetAllocs):
// one allocation per request, crypto/tls's reader of the record that brings the request's
// HEADERS (and the client's WINDOW_UPDATE, written with it).
func TestTLSLoopH2GetAllocs(t *testing.T) {
	be := startFixedBackend(t)
	srv := startProxy(t, core.Config{Loops: 1, HTTP2: core.HTTP2Config{Enabled: true}}, quickRoute(t, be))
	per := tlsClientAllocs(t, startTLSLoopALPN(t, srv, []string{"h2"}), "h2")
	t.Logf("%.3f allocations per HTTP/2 request over TLS on the loop", per)
	if per > 1.05 {
		t.Errorf("%.3f allocations per HTTP/2 request over TLS on the loop, want 1 (crypto/tls's own)", per)
	}
}

// tlsClientAllocs runs TestTLSLoopClientProcess against addr speaking proto (http/1.1 or h2)
// and returns this process's allocations per request, background included.
func tlsClientAllocs(t *testing.T, addr, proto string) float64 {
	t.Helper()
	const warm, n = 2000, 5000
	cmd := exec.Command(os.Args[0], "-test.run=^TestTLSLoopClientProcess$")
	cmd.Env = append(os.Environ(), "TORII_TLS_ALLOC_CLIENT="+addr+","+strconv.Itoa(warm)+","+strconv.Itoa(n)+","+proto)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
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
	return float64(after.Mallocs-before.Mallocs) / n
}

// TestTLSLoopClientProcess is the client of TestTLSLoopGetAllocs, in its own process.
func TestTLSLoopClientProcess(t *testing.T) {
	spec := os.Getenv("TORII_TLS_ALLOC_CLIENT")
	if spec == "" {
		t.Skip("only as TestTLSLoopGetAllocs's client")
	}
	parts := bytes.Split([]byte(spec), []byte(","))
	if len(parts) != 4 {
		t.Fatalf("TORII_TLS_ALLOC_CLIENT=%q", spec)
	}
	addr := string(parts[0])
	warm, _ := strconv.Atoi(string(parts[1]))
	n, _ := strconv.Atoi(string(parts[2]))
	proto := string(parts[3])
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "bench.test", InsecureSkipVerify: true, NextProtos: []string{proto}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if proto == "h2" {
		hc := newH2BenchClientOn(t, c)
		for range warm {
			hc.do(t)
		}
		fmt.Println("warm")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		for range n {
			hc.do(t)
		}
		fmt.Println("done")
		return
	}
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
