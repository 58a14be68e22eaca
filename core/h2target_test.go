package core_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/internal/testkit"
)

// TestHTTP2TargetFullDuplex: a target with protocol HTTP/2.0 (an h2c backend through core/h2up)
// answering each 4 MiB message of a request body before reading the next (a bidirectional
// stream's ping-pong), with HighWater 64 KiB: the upload is pumped before the response begins,
// handed back to the loop when it does, then both bodies are pumped together; every message
// comes back whole and in order. A one-way pump would deadlock here.
func TestHTTP2TargetFullDuplex(t *testing.T) {
	const msg, rounds = 4 << 20, 3
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	be := &http.Server{Protocols: &p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, msg)
		for i := range rounds {
			if _, err := io.ReadFull(r.Body, buf); err != nil {
				return
			}
			if buf[0] != byte('a'+i) || buf[msg-1] != byte('a'+i) {
				w.WriteHeader(500)
				return
			}
			_, _ = w.Write(buf)
			w.(http.Flusher).Flush()
		}
		_, _ = io.Copy(io.Discard, r.Body)
	})}
	go func() { _ = be.Serve(ln) }()
	t.Cleanup(func() { _ = be.Close() })
	rt := testRoute("*", ln.Addr().String())
	rt.Backend.Targets[0].Protocol = "HTTP/2.0"
	srv := startProxy(t, core.Config{HighWater: 64 << 10, Loops: 1}, rt)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	go func() { <-ctx.Done(); _ = pw.CloseWithError(ctx.Err()) }() // a stuck exchange fails the test
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+srv.Addr().String()+"/duplex", pr)
	got := make(chan *http.Response, 1)
	go func() {
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			_ = pw.CloseWithError(err)
			close(got)
			return
		}
		got <- resp
	}()
	var resp *http.Response
	back := make([]byte, msg)
	for i := range rounds {
		if _, err := pw.Write(bytes.Repeat([]byte{byte('a' + i)}, msg)); err != nil {
			t.Fatalf("round %d: write: %v", i, err)
		}
		if resp == nil {
			if resp = <-got; resp == nil || resp.StatusCode != 200 {
				t.Fatalf("no response head after the first message: %v", resp)
			}
			defer resp.Body.Close()
		}
		if _, err := io.ReadFull(resp.Body, back); err != nil {
			t.Fatalf("round %d: read: %v", i, err)
		}
		if !bytes.Equal(back, bytes.Repeat([]byte{byte('a' + i)}, msg)) {
			t.Fatalf("round %d: wrong bytes back", i)
		}
	}
	_ = pw.Close()
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("end: %d bytes, %v", len(rest), err)
	}
	testkit.Eventually(t, "the exchange ends", func() error {
		if n := srv.InFlight(); n != 0 {
			return fmt.Errorf("%d exchanges in flight", n)
		}
		return nil
	})
}
