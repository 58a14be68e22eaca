package core_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
)

// startObservedKeys starts an observed proxy on loops whose snapshot has
// keys, g and routes.
func startObservedKeys(t *testing.T, loops int, keys []apikey.ApiKey, g *core.Global, routes ...route.Route) (*observed, *core.Server) {
	t.Helper()
	o := startObserved(t, loops)
	q := quota.New(quota.Options{})
	cfg := o.config(loops)
	cfg.Quotas = q
	srv := startProxy(t, cfg)
	publishKeys(t, srv, q, 2, keys, g, routes...)
	return o, srv
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// An error answered by the proxy is recorded with the bytes the client
// actually received (data.dataOut): the page as sent, with its Retry-After,
// quota headers and request id, and without Connection: close on a
// keep-alive connection.
func TestExchangeEndErrorDataOut(t *testing.T) {
	k := testKey("dout-key", "dout-secret")
	k.DailyQuota = 1
	o, srv := startObservedKeys(t, 1, []apikey.ApiKey{k}, nil, keyRoute("keys.test", "", "", startHeaderEcho(t)))

	raw := dial(t, srv)
	c := &countingConn{Conn: raw}
	br := bufio.NewReader(c)
	keyReq := "GET / HTTP/1.1\r\nHost: keys.test\r\nOtoroshi-Client-Id: dout-key\r\nOtoroshi-Client-Secret: dout-secret\r\n\r\n"
	steps := []struct {
		req  string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n", 404}, // keep-alive error page
		{keyReq, 200},
		{keyReq, 429},                   // Retry-After and quota headers inserted
		{"GET / HTTP/1.1\r\n\r\n", 400}, // no Host: malformed, closing page
	}
	var got []int64
	for _, st := range steps {
		before := c.n.Load()
		resp, body := roundTrip(t, c, br, st.req, "GET")
		if resp.StatusCode != st.want {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, st.want, body)
		}
		if br.Buffered() != 0 {
			t.Fatalf("%d bytes past the response", br.Buffered())
		}
		got = append(got, c.n.Load()-before)
	}
	evs := o.waitEvents(t, len(steps))
	for i, ev := range evs {
		data, _ := ev["data"].(map[string]any)
		if fmt.Sprint(ev["status"]) != fmt.Sprint(steps[i].want) {
			t.Errorf("event %d: status %v, want %d", i, ev["status"], steps[i].want)
		}
		if data == nil || data["dataOut"] != float64(got[i]) {
			t.Errorf("event %d (%d): data %v, the client received %d bytes", i, steps[i].want, ev["data"], got[i])
		}
	}
}

// A download moved to a pump hands both connections back when it is over:
// the client to its loop for its next request, the backend connection to
// the pool (state usReturning), so the next request reuses it. Run with a
// TCP client of the listener and with a client enrolled over a socketpair
// (the TLS way in), whose pump copies on a Unix socket.
func TestPumpHandBack(t *testing.T) {
	payload := bytes.Repeat([]byte("pumped-body-"), 8<<20/12)
	var conns atomic.Int64
	be := startRawBackend(t, func(c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(payload))
			if _, err := c.Write(payload); err != nil {
				return
			}
		}
	})
	o := startObserved(t, 1)
	cfg := o.config(1)
	cfg.HighWater = 64 << 10
	srv := startProxy(t, cfg, testRoute("*", be))
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	f := func(t *testing.T, c net.Conn, events int) {
		pumped := srv.Stats().Pumped
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // let the backend outrun us
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 || body != string(payload) {
			t.Fatalf("pumped download: %d, %d bytes", resp.StatusCode, len(body))
		}
		if srv.Stats().Pumped == pumped {
			t.Fatal("no exchange was pumped")
		}
		before := conns.Load()
		if resp, body = roundTrip(t, c, br, req, "GET"); resp.StatusCode != 200 || body != string(payload) {
			t.Fatalf("after the pump: %d, %d bytes", resp.StatusCode, len(body))
		}
		if n := conns.Load() - before; n != 0 {
			t.Errorf("%d new backend connections after the pump: the pumped one was not pooled", n)
		}
		evs := o.waitEvents(t, events)
		data, _ := evs[events-2]["data"].(map[string]any)
		if data == nil || data["dataOut"].(float64) < float64(len(payload)) {
			t.Errorf("pumped event data %v, body %d bytes", evs[events-2]["data"], len(payload))
		}
	}
	t.Run("tcp", func(t *testing.T) {
		c := dial(t, srv)
		_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
		f(t, c, 2)
	})
	t.Run("socketpair", func(t *testing.T) {
		engine, ours := socketpair(t)
		_ = ours.SetReadBuffer(16 << 10)
		if err := srv.Enroll(engine, &core.ClientInfo{Addr: netip.MustParseAddrPort("192.0.2.3:1"), TLS: true}); err != nil {
			t.Fatal(err)
		}
		f(t, ours, 4)
	})
}
