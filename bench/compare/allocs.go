package main

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// allocLine is one result line of the in-process benchmarks in bench/inproc.
type allocLine struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

var benchLine = regexp.MustCompile(`(?m)^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

// measureAllocs runs the in-process benchmarks (loopback backend, load
// engine, and Torii's engine in one process) and returns their lines, or a
// note saying why there are none.
func measureAllocs(ctx context.Context, o *options) ([]allocLine, string) {
	logf("running the in-process allocation benchmarks (bench/inproc)")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem",
		"-benchtime", "20000x", "-count", "1", "./bench/inproc")
	out, err := cmd.CombinedOutput()
	lines := parseBench(string(out))
	if err != nil || len(lines) == 0 {
		return lines, "the in-process benchmark failed: " + firstLine(string(out))
	}
	return lines, ""
}

func parseBench(out string) []allocLine {
	var lines []allocLine
	for _, m := range benchLine.FindAllStringSubmatch(out, -1) {
		ns, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseFloat(m[3], 64)
		a, _ := strconv.ParseFloat(m[4], 64)
		lines = append(lines, allocLine{Name: m[1], NsPerOp: ns, BytesPerOp: b, AllocsPerOp: a})
	}
	return lines
}
