package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/bench/internal/backend"
	"github.com/torii-gateway/torii/bench/internal/load"
)

func TestRunWritesReports(t *testing.T) {
	srv, err := backend.Start("127.0.0.1:0", backend.Config{Size: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.svg")
	var stdout, stderr strings.Builder
	err = run(context.Background(), []string{"-c", "3", "-n", "300", "-d", "0", "-method", "post", "-body-size", "100",
		"-H", "Otoroshi-Client-Id: key1", "-json", jsonPath, "-svg", svgPath, "http://" + srv.Addr() + "/x"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep load.Report
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK != 300 || rep.Responses != 300 || rep.BodyBytes != 300*40 || rep.Mode != "closed" || rep.Connections != 3 {
		t.Fatalf("report %+v", rep)
	}
	if rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max || len(rep.Distribution) == 0 {
		t.Fatalf("latency summary not ordered: %+v", rep.Latency)
	}
	if !strings.Contains(stdout.String(), "300 responses (300 2xx)") {
		t.Fatalf("summary:\n%s", stdout.String())
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil || !strings.HasPrefix(string(svg), "<svg") {
		t.Fatalf("SVG: %v %.40q", err, svg)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	f := func(args ...string) {
		t.Helper()
		var out, errOut strings.Builder
		if err := run(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
	f()                                       // no URL
	f("https://127.0.0.1:1/")                 // not http
	f("-H", "novalue", "http://127.0.0.1:1/") // bad header
	f("-rate", "10", "-pipeline", "2", "http://127.0.0.1:1/")
	var out, errOut strings.Builder
	if err := run(context.Background(), []string{"-h"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
}
