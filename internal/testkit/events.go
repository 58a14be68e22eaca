package testkit

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// WaitEvents waits up to 5 s until the ndjson file at path (a file data exporter's) holds at
// least n events and returns them all, decoded.
func WaitEvents(t testing.TB, path string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) > 0 && len(lines) >= n {
			var evs []map[string]any
			for _, l := range lines {
				var ev map[string]any
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("event is not JSON: %v: %s", err, l)
				}
				evs = append(evs, ev)
			}
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events expected in %s, file has %d bytes: %s", n, path, len(b), b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
