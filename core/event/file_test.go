package event

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestFileExporterRotation writes NDJSON through a real hub into a file in a
// temp dir and checks size-based rotation keeps maxNumberOfFile old files.
func TestFileExporterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.ndjson")
	h := startHub(t, Options{Loops: 1, RingSize: 64, PollInterval: time.Millisecond})
	c := DefaultExporterConfig()
	c.ID, c.Type, c.Enabled, c.GroupSize, c.GroupDuration = "f1", TypeFile, true, 4, 10
	// An event is ~1.2 KB: about three fit in 4 KB.
	c.Config = json.RawMessage(fmt.Sprintf(`{"path":%q,"maxFileSize":4096,"maxNumberOfFile":2}`, path))
	if err := h.SetExporters([]ExporterConfig{c}); err != nil {
		t.Fatal(err)
	}
	record(t, h.Ring(0), 20)
	waitFor(t, "20 events written", func() bool { return h.Stats().Exporters[0].Sent == 20 })

	var ids []string
	for _, p := range []string{path + ".2", path + ".1", path} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 4096 {
			t.Fatalf("%s is %d bytes, over maxFileSize", p, st.Size())
		}
		for _, line := range readLines(t, p) {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%s: bad line %q: %v", p, line, err)
			}
			ids = append(ids, ev["reqId"].(string))
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Fatalf("a third rotated file exists: %v", err)
	}
	// The oldest events were rotated away; the newest are last and in order.
	if len(ids) == 0 || len(ids) >= 20 || ids[len(ids)-1] != "20" {
		t.Fatalf("kept ids %v", ids)
	}
	for i := 1; i < len(ids); i++ {
		var a, b int
		fmt.Sscan(ids[i-1], &a)
		fmt.Sscan(ids[i], &b)
		if b != a+1 {
			t.Fatalf("ids not consecutive: %v", ids)
		}
	}
}
