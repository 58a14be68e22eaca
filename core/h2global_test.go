package core_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/h2"
	"github.com/torii-gateway/torii/core/route"
)

// firstBytes sends the HTTP/2 preface and an empty SETTINGS frame to addr and returns what the
// server answers first (up to 64 bytes).
func firstBytes(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(h2.AppendFrameHeader([]byte(h2.Preface), 0, h2.FrameSettings, 0, 0)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(c, buf, 16)
	return buf[:n]
}

// settingOf returns setting id of the SETTINGS frame at the start of b.
func settingOf(t *testing.T, b []byte, id uint16) uint32 {
	t.Helper()
	fh := h2.ParseFrameHeader(b)
	if fh.Type != h2.FrameSettings || len(b) < h2.FrameHeaderLen+int(fh.Length) {
		t.Fatalf("not a SETTINGS frame: %q", b)
	}
	for p := b[h2.FrameHeaderLen : h2.FrameHeaderLen+int(fh.Length)]; len(p) >= 6; p = p[6:] {
		if binary.BigEndian.Uint16(p) == id {
			return binary.BigEndian.Uint32(p[2:])
		}
	}
	return 0
}

// The global configuration's HTTP/2 settings (core.Global.HTTP2) turn h2c on and off on the
// listener and change the limits of connections opened after the Publish.
func TestGlobalHTTP2Settings(t *testing.T) {
	be := startFixedBackend(t)
	r := quickRoute(t, be)
	srv := startProxy(t, core.Config{Loops: 1, HTTP2: core.HTTP2Config{Enabled: true}}, r)
	addr := srv.Addr().String()
	if b := firstBytes(t, addr); !bytes.HasPrefix(b, []byte("HTTP/1.1 ")) {
		t.Fatalf("h2c off by default: %q", b)
	}
	table, err := route.Compile([]route.Route{r}, route.CompileOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(&core.Snapshot{Routes: table, Version: 2, Global: &core.Global{HTTP2: &core.GlobalHTTP2{H2C: 1, MaxConcurrentStreams: 7}}})
	b := firstBytes(t, addr)
	if got := settingOf(t, b, h2.SettingMaxConcurrentStreams); got != 7 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS %d, want 7 (global setting)", got)
	}
	if got := settingOf(t, b, h2.SettingInitialWindowSize); got != core.DefaultH2StreamWindow {
		t.Errorf("SETTINGS_INITIAL_WINDOW_SIZE %d, want the engine's %d", got, core.DefaultH2StreamWindow)
	}
	srv.Publish(&core.Snapshot{Routes: table, Version: 3, Global: &core.Global{HTTP2: &core.GlobalHTTP2{H2C: -1}}})
	if b := firstBytes(t, addr); !bytes.HasPrefix(b, []byte("HTTP/1.1 ")) {
		t.Fatalf("h2c turned off: %q", b)
	}
}
