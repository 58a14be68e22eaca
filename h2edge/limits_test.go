package h2edge_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/h2edge"
)

// serverSettings reads frames until the server's first SETTINGS and the connection-level
// WINDOW_UPDATE that follows it, and returns both.
func serverSettings(t *testing.T, rc *rawConn) (map[http2.SettingID]uint32, uint32) {
	t.Helper()
	got := map[http2.SettingID]uint32{}
	var connWin uint32
	seen := false
	for !seen || connWin == 0 {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = f.ForeachSetting(func(s http2.Setting) error { got[s.ID] = s.Val; return nil })
				seen = true
				_ = rc.fr.WriteSettingsAck()
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connWin = f.Increment
			}
		}
	}
	return got, connWin
}

// TestH2LimitDefaults: the defaults are what the server advertises and enforces: 100 concurrent
// streams (the 101st is refused), a 32 KiB header list (431 past it), 256 KiB per stream and
// 1 MiB per connection of flow-control window, 16 KiB frames; and a setting changes each.
func TestH2LimitDefaults(t *testing.T) { bothServers(t, testH2LimitDefaults) }

func testH2LimitDefaults(t *testing.T) {
	e := newEnv(t, h2edge.Config{})
	rc := e.dialRaw(t)
	st, connWin := serverSettings(t, rc)
	if st[http2.SettingMaxConcurrentStreams] != 100 || st[http2.SettingInitialWindowSize] != 256<<10 ||
		st[http2.SettingMaxFrameSize] != 16<<10 || st[http2.SettingMaxHeaderListSize] < 32<<10 || st[http2.SettingMaxHeaderListSize] > 40<<10 {
		t.Errorf("advertised settings %v", st)
	}
	if connWin+65535 != 1<<20 {
		t.Errorf("connection window %d, want 1 MiB", connWin+65535)
	}
	// 100 streams held open (no END_STREAM), then one more: refused.
	for i := range 101 {
		id := uint32(2*i + 1)
		blk := headers(":method", "POST", ":scheme", "http", ":path", "/", ":authority", "h2.test")
		if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	if got := rc.outcome(201); got != "RST" && got != "GOAWAY" {
		t.Errorf("101st concurrent stream: %q, want refused", got)
	}
	// A header list past 32 KiB.
	rc2 := e.dialRaw(t)
	big := headers(":method", "GET", ":scheme", "http", ":path", "/", ":authority", "h2.test", "x-big", strings.Repeat("~", 20000), "x-big2", strings.Repeat("~", 15000))
	if len(big) < 35000 {
		t.Fatalf("header block compressed to %d bytes", len(big))
	}
	_ = rc2.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: big[:16000], EndHeaders: false, EndStream: true})
	_ = rc2.fr.WriteContinuation(1, false, big[16000:32000])
	_ = rc2.fr.WriteContinuation(1, true, big[32000:])
	if got := rc2.outcome(1); got != "431" && got != "RST" && got != "GOAWAY" && got != "closed" {
		t.Errorf("35 KB header list: %q, want 431 or a reset", got)
	}
	if e.hits.Load() != 0 {
		t.Errorf("backend saw %d requests", e.hits.Load())
	}

	// Settings change what is advertised; an idle connection is closed after IdleTimeout.
	e2 := newEnv(t, h2edge.Config{MaxConcurrentStreams: 7, StreamWindow: 1 << 17, ConnWindow: 1 << 18, IdleTimeout: 300 * time.Millisecond})
	rc3 := e2.dialRaw(t)
	st, connWin = serverSettings(t, rc3)
	if st[http2.SettingMaxConcurrentStreams] != 7 || st[http2.SettingInitialWindowSize] != 1<<17 || connWin+65535 != 1<<18 {
		t.Errorf("settings not applied: %v, connection window %d", st, connWin+65535)
	}
	if got := closedSoon(rc3, 3*time.Second); got == "" {
		t.Errorf("idle connection still open after IdleTimeout")
	}
	if onLoops {
		if _, err := core.NewServer(core.Config{Listen: "127.0.0.1:0", HTTP2: core.HTTP2Config{Enabled: true, StreamWindow: 1000}}); err == nil {
			t.Errorf("a window below 1024 was accepted")
		}
	} else if _, err := h2edge.New(h2edge.Config{Enroll: e.h2.Config().Enroll, StreamWindow: 1000}); err == nil {
		t.Errorf("a window below 65535 was accepted")
	}
}
