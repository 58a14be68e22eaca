//go:build !race

package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestExportAllocs: in steady state, the drain goroutine's pass (encode,
// filter on @type, hand over to the exporter) and the file exporter's
// goroutine (batch, write, recycle) allocate nothing per exported event.
func TestExportAllocs(t *testing.T) {
	const perRun = 100
	path := filepath.Join(t.TempDir(), "events.ndjson")
	h := NewHub(Options{Loops: 1, RingSize: 1024, CaptureHeaders: true, Logger: slog.New(slog.DiscardHandler)})
	defer h.Close()
	c := DefaultExporterConfig()
	c.ID, c.Type, c.Enabled = "file", TypeFile, true
	c.GroupSize, c.BufferSize = 50, 4*perRun
	c.Filtering.Include = []map[string]any{{"@type": "GatewayEvent"}}
	c.Config = json.RawMessage(fmt.Sprintf(`{"path":%q,"maxFileSize":1073741824,"maxNumberOfFile":1}`, path))
	if err := h.SetExporters([]ExporterConfig{c}); err != nil {
		t.Fatal(err)
	}
	e := (*h.exporters.Load())[0]
	r := h.Ring(0)
	in := newWire("Host", "api.example.com", "User-Agent", "test/1.0", "Accept", "*/*")
	var own Record
	own.Reset(true)
	fillRecord(&own, 1, &in, nil)
	d := &drainer{h: h}
	total := uint64(0)
	round := func() {
		for range perRun {
			r.Push(&own)
		}
		d.pass()
		total += perRun
		// Wait for the file writes, so that every document is back in the
		// pool before the next round: the steady state of a drain that
		// keeps up.
		for e.sent.Load() < total {
			runtime.Gosched()
		}
	}
	for range 20 {
		round()
	}
	if n := testing.AllocsPerRun(50, round); n != 0 {
		t.Fatalf("exporting allocates %.2f times per event", n/perRun)
	}
	st := h.Stats()
	if st.RingDrops != 0 || st.Exporters[0].Dropped != 0 || st.Exporters[0].Failed != 0 {
		t.Fatalf("events lost, the figure is not the export path's: %+v", st)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if uint64(len(lines)) != total {
		t.Fatalf("file holds %d events, want %d", len(lines), total)
	}
	var ev map[string]any
	if err := json.Unmarshal(lines[len(lines)-1], &ev); err != nil || ev["@type"] != "GatewayEvent" {
		t.Fatalf("last event %v: %s", err, lines[len(lines)-1])
	}
}
