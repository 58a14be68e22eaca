package h2edge_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/torii-gateway/torii/h2edge"
)

// neighbourServed checks that another client is served promptly while an attack runs.
func neighbourServed(t *testing.T, e *env, cl *http.Client) {
	t.Helper()
	start := time.Now()
	resp, err := cl.Get("http://h2.test/")
	if err != nil {
		t.Fatalf("neighbour: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(start) > 2*time.Second {
		t.Fatalf("neighbour: %d after %v", resp.StatusCode, time.Since(start))
	}
}

// heapMiB is the live heap after a GC.
func heapMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// closedSoon reports whether the server ends rc (GOAWAY or EOF) within d, reading and dropping
// frames meanwhile.
func closedSoon(rc *rawConn, d time.Duration) string {
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			if strings.Contains(err.Error(), "timeout") {
				return ""
			}
			return "closed"
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return "GOAWAY " + ga.ErrCode.String()
		}
	}
}

// TestH2Attacks: each known HTTP/2 attack class against one connection, with a neighbour served
// during it and the heap bounded: rapid reset (CVE-2023-44487), CONTINUATION flood
// (CVE-2024-27316 class), HPACK bomb, SETTINGS/PING floods, WINDOW_UPDATE overflow and a
// zero-window stall (closed by the PING timeout).
func TestH2Attacks(t *testing.T) { bothServers(t, testH2Attacks) }

func testH2Attacks(t *testing.T) {
	e := newEnv(t, h2edge.Config{PingAfter: 300 * time.Millisecond, PingTimeout: 300 * time.Millisecond, WriteTimeout: time.Second})
	cl := e.client()
	neighbourServed(t, e, cl)
	base := heapMiB()
	get := headers(":method", "GET", ":scheme", "http", ":path", "/", ":authority", "h2.test")

	t.Run("rapid reset", func(t *testing.T) {
		rc := e.dialRaw(t)
		// All the frames in one write, so that the server reads them faster than handlers can
		// start, whatever the machine's load (or -race) does to both.
		var burst bytes.Buffer
		bf := http2.NewFramer(&burst, nil)
		for i := 0; i < 20000; i++ {
			id := uint32(2*i + 1)
			_ = bf.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: get, EndHeaders: true, EndStream: true})
			_ = bf.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		go func() { _, _ = rc.c.Write(burst.Bytes()) }()
		neighbourServed(t, e, cl)
		got := closedSoon(rc, 5*time.Second)
		t.Logf("rapid reset: attacker %q after 20000 HEADERS+RST_STREAM, backend requests %d", got, e.hits.Load())
		// x/net sends GOAWAY ENHANCE_YOUR_CALM and closes; when the close resets the socket
		// before the GOAWAY is read, the client sees only the close.
		if got != "GOAWAY ENHANCE_YOUR_CALM" && got != "closed" {
			t.Errorf("rapid reset: attacker %q, want the connection cut off (GOAWAY ENHANCE_YOUR_CALM)", got)
		}
	})
	t.Run("CONTINUATION flood", func(t *testing.T) {
		rc := e.dialRaw(t)
		_ = rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndHeaders: false})
		junk := headers(strings.Repeat("x", 100), strings.Repeat("y", 4000))
		sent := 0
		for ; sent < 4000; sent++ { // 16 MB at most
			if rc.fr.WriteContinuation(1, false, junk) != nil {
				break
			}
		}
		if got := closedSoon(rc, 3*time.Second); got == "" {
			t.Errorf("CONTINUATION flood: connection still open after %d frames", sent)
		}
		neighbourServed(t, e, cl)
	})
	t.Run("HPACK bomb", func(t *testing.T) {
		rc := e.dialRaw(t)
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":path", Value: "/"}, {Name: ":authority", Value: "h2.test"}} {
			_ = enc.WriteField(f)
		}
		_ = enc.WriteField(hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("b", 3000)}) // indexed: 62
		block := b.Bytes()
		for range 2000 { // 6 MB decoded from 2 KB
			block = append(block, 0x80|62)
		}
		_ = rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true, EndStream: true})
		if got := rc.outcome(1); !(got == "431" || got == "RST" || got == "GOAWAY" || got == "closed") {
			t.Errorf("HPACK bomb: %q, want a refusal", got)
		}
		neighbourServed(t, e, cl)
	})
	t.Run("PING flood", func(t *testing.T) {
		rc := e.dialRaw(t)
		var data [8]byte
		for i := 0; i < 200000; i++ { // never reads the ACKs
			_ = rc.c.SetWriteDeadline(time.Now().Add(time.Second))
			if rc.fr.WritePing(false, data) != nil {
				break
			}
		}
		if got := closedSoon(rc, 3*time.Second); got == "" {
			t.Errorf("PING flood: connection still open")
		}
		neighbourServed(t, e, cl)
	})
	t.Run("SETTINGS flood", func(t *testing.T) {
		rc := e.dialRaw(t)
		for i := 0; i < 200000; i++ {
			_ = rc.c.SetWriteDeadline(time.Now().Add(time.Second))
			if rc.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16384}) != nil {
				break
			}
		}
		if got := closedSoon(rc, 3*time.Second); got == "" {
			t.Errorf("SETTINGS flood: connection still open")
		}
		neighbourServed(t, e, cl)
	})
	t.Run("WINDOW_UPDATE overflow", func(t *testing.T) {
		rc := e.dialRaw(t)
		for range 4 {
			_ = rc.fr.WriteWindowUpdate(0, 1<<30)
		}
		if got := closedSoon(rc, 3*time.Second); got == "" {
			t.Errorf("WINDOW_UPDATE overflow: connection still open")
		}
		neighbourServed(t, e, cl)
	})
	t.Run("zero-window stall", func(t *testing.T) {
		rc := e.dialRaw(t)
		_ = rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		_ = rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndHeaders: true, EndStream: true})
		// Never reads: no PING answered, no window opened.
		time.Sleep(time.Second)
		_ = rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.Copy(io.Discard, rc.c); err != nil && strings.Contains(err.Error(), "timeout") {
			t.Errorf("zero-window stall: connection still open after the PING timeout")
		}
		neighbourServed(t, e, cl)
	})
	// The rapid-reset attacker is cut off by x/net's early-reset guard or, when the machine is
	// loaded enough that 300 ms pass before it trips, by the PING timeout (it never answers
	// PINGs): either way a counter the metrics export saw it.
	if onLoops {
		if st := e.srv.HTTP2Stats(); st.Errors["enhance_your_calm"]+st.Errors["settings_timeout"] == 0 || st.Served < 8 {
			t.Errorf("engine stats after the attacks: %+v", st)
		} else {
			t.Logf("engine stats: %+v", st)
		}
	} else if st := e.h2.Stats(); st.Errors["conn_ENHANCE_YOUR_CALM_too_many_early_resets"]+st.Errors["conn_close_lost_ping"] == 0 || st.Served < 8 {
		// The counters the metrics export see the attacks.
		t.Errorf("stats after the attacks: %+v", st)
	} else {
		t.Logf("stats: %+v", st)
	}
	if grown := heapMiB() - base; grown > 64 {
		t.Errorf("heap grew by %.1f MiB over the attacks", grown)
	} else {
		t.Logf("heap growth over the attacks: %.1f MiB", grown)
	}
}
