package core_test

import (
	"bufio"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/quota"
)

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
	o := startObserved(t, 1)
	be := startHeaderEcho(t)
	k := testKey("dout-key", "dout-secret")
	k.DailyQuota = 1
	q := quota.New(quota.Options{})
	cfg := o.config(1)
	cfg.Quotas = q
	srv := startProxy(t, cfg)
	publishKeys(t, srv, q, 2, []apikey.ApiKey{k}, nil, keyRoute("keys.test", "", "", be))

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
