package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/otoroshi"
)

// TestExportReadsBack writes a small export and reads it as the admin import does: every route
// and key is there, and nothing is a problem.
func TestExportReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.json")
	if err := run([]string{"-routes", "7", "-keys", "31", "-export", path}, io.Discard); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil || !json.Valid(raw) {
		t.Fatalf("export is not valid JSON (%v)", err)
	}
	doc, err := jsonx.DecodeObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	im := otoroshi.Read(doc, 1000)
	if len(im.Problems) != 0 || im.Report.Imported["routes"] != 7 || im.Report.Imported["apiKeys"] != 31 {
		t.Fatalf("problems %v, imported %v", im.Problems, im.Report.Imported)
	}
	if err := run([]string{"-routes", "1"}, io.Discard); err == nil {
		t.Fatal("neither -data-dir nor -export: no error")
	}
}

// TestDataDirLoads stores a configuration and stores it again (BulkLoad replaces by id).
func TestDataDirLoads(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		if err := run([]string{"-routes", "5", "-keys", "20", "-data-dir", dir}, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "torii.db")); err != nil {
		t.Fatal(err)
	}
}
