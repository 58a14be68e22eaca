// Command tlsidle opens idle TLS keep-alive connections for bench/tls-compare.sh's memory
// measurement: it dials -n connections to -addr (127.0.0.1 only), sends one small GET on each,
// reads the response, prints "ready" and holds them until its standard input closes.
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "TLS address (loopback)")
	n := flag.Int("n", 2000, "connections")
	host := flag.String("host", "bench.test", "SNI and Host")
	flag.Parse()
	if h, _, err := net.SplitHostPort(*addr); err != nil || (h != "127.0.0.1" && h != "::1" && h != "localhost") {
		fmt.Fprintln(os.Stderr, "tlsidle: -addr must be a loopback host:port")
		os.Exit(2)
	}
	cfg := &tls.Config{ServerName: *host, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
	conns := make([]net.Conn, 0, *n)
	for i := 0; i < *n; i++ {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", *addr, cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tlsidle: connection %d: %v\n", i, err)
			os.Exit(1)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", *host)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tlsidle: response %d: %v\n", i, err)
			os.Exit(1)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		_ = c.SetDeadline(time.Time{})
		conns = append(conns, c)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
}
