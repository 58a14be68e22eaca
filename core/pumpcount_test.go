package core_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Bodies moved by a pump count in their events whatever their framing: a
// chunked download, a close-delimited download and a chunked upload, each
// pumped (the far side lags), carry their body bytes (with their chunk
// framing, as on the loop) in dataOut or dataIn.
func TestObservePumpedBodiesCounted(t *testing.T) {
	const size = 8 << 20
	payload := bytes.Repeat([]byte("pumped-bytes"), size/12)
	o := startObserved(t, 1)
	chunked := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			time.Sleep(200 * time.Millisecond) // the upload piles up in the proxy
			n, _ := io.Copy(io.Discard, r.Body)
			_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
			return
		}
		for b := payload; len(b) > 0; { // no Content-Length: chunked
			n := min(len(b), 64<<10)
			_, _ = w.Write(b[:n])
			b = b[n:]
		}
	}))
	closing := startRawBackend(t, func(c net.Conn) {
		_, _ = readRequestHead(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
		_, _ = c.Write(payload)
	})
	cfg := o.config(1)
	cfg.HighWater = 64 << 10
	srv := startProxy(t, cfg, testRoute("chunked.test", chunked), testRoute("closing.test", closing))

	download := func(host string) {
		t.Helper()
		c := dial(t, srv)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
		if _, err := io.WriteString(c, "GET /"+host+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // let the backend outrun us
		if _, body := readResponse(t, bufio.NewReader(c), "GET"); len(body) != len(payload) {
			t.Fatalf("%s: got %d bytes, want %d", host, len(body), len(payload))
		}
	}
	download("chunked.test")
	download("closing.test")

	c := dial(t, srv)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		w := bufio.NewWriter(c)
		fmt.Fprintf(w, "POST /upload HTTP/1.1\r\nHost: chunked.test\r\nTransfer-Encoding: chunked\r\n\r\n")
		for b := payload; len(b) > 0; {
			n := min(len(b), 32<<10)
			fmt.Fprintf(w, "%x\r\n", n)
			_, _ = w.Write(b[:n])
			_, _ = w.WriteString("\r\n")
			b = b[n:]
		}
		_, _ = w.WriteString("0\r\n\r\n")
		_ = w.Flush()
	}()
	if resp, body := readResponse(t, bufio.NewReader(c), "POST"); resp.StatusCode != 200 || body != strconv.Itoa(len(payload)) {
		t.Fatalf("chunked upload: status %d body %q", resp.StatusCode, body)
	}
	if n := srv.Stats().Pumped; n < 3 {
		t.Fatalf("%d exchanges pumped, want 3", n)
	}

	evs := o.waitEvents(t, 3)
	byURI := map[string]map[string]any{}
	for _, ev := range evs {
		byURI[fmt.Sprint(ev["to"].(map[string]any)["uri"])] = ev
	}
	// The body, its chunk framing (under 1% here) and a head.
	f := func(uri, field string) {
		t.Helper()
		ev := byURI[uri]
		if ev == nil {
			t.Fatalf("no event for %s in %v", uri, evs)
		}
		got := ev["data"].(map[string]any)[field].(float64)
		if got < float64(len(payload)) || got > float64(len(payload))*1.01+4096 {
			t.Errorf("%s: %s = %.0f, want the %d body bytes with their framing and a head", uri, field, got, len(payload))
		}
		if ev["status"] != float64(200) || ev["err"] != false {
			t.Errorf("%s: status %v err %v", uri, ev["status"], ev["err"])
		}
	}
	f("/chunked.test", "dataOut")
	f("/closing.test", "dataOut")
	f("/upload", "dataIn")
}
