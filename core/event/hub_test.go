package event

import (
	"errors"
	"log/slog"
	"testing"
)

// TestSetExportersLifecycle: an unchanged config keeps its running exporter
// and counters; a removed one flushes what it holds before stopping; a closed
// hub refuses new exporters.
func TestSetExportersLifecycle(t *testing.T) {
	out := &syncBuffer{}
	h := NewHub(Options{Console: out, Logger: slog.New(slog.DiscardHandler)})
	a := DefaultExporterConfig()
	a.ID, a.Enabled, a.GroupSize, a.GroupDuration = "a", true, 100, 60000 // nothing flushes by itself
	b := a
	b.ID = "b"
	off := a
	off.ID, off.Enabled = "off", false
	if err := h.SetExporters([]ExporterConfig{a, b, off}); err != nil {
		t.Fatal(err)
	}
	if n := len(h.Stats().Exporters); n != 2 {
		t.Fatalf("%d exporters running, want 2 (one disabled)", n)
	}
	first := (*h.exporters.Load())[0]
	h.Publish(KindAudit, []byte(`{"n":1}`))
	h.Publish(KindAudit, []byte(`{"n":2}`))
	waitFor(t, "queues emptied into batches", func() bool {
		for _, e := range h.Stats().Exporters {
			if e.Queued != 0 {
				return false
			}
		}
		return true
	})
	if len(out.lines()) != 0 {
		t.Fatalf("flushed before groupSize or groupDuration: %v", out.lines())
	}
	// Keep a unchanged, drop b: b's two documents are flushed on stop.
	if err := h.SetExporters([]ExporterConfig{a}); err != nil {
		t.Fatal(err)
	}
	if got := len(out.lines()); got != 2 {
		t.Fatalf("removed exporter flushed %d lines, want 2", got)
	}
	if (*h.exporters.Load())[0] != first {
		t.Fatalf("unchanged exporter was restarted")
	}
	h.Close()
	if got := len(out.lines()); got != 4 {
		t.Fatalf("Close flushed to %d lines, want 4", got)
	}
	if err := h.SetExporters([]ExporterConfig{a}); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetExporters after Close: %v", err)
	}
	h.Close() // idempotent
}
