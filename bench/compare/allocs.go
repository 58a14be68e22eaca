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
	ObjsPerReq  float64 `json:"objs_per_req"` // exact heap objects per request, -1 when not reported
}

var (
	benchLine = regexp.MustCompile(`(?m)^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op.*$`)
	benchUnit = regexp.MustCompile(`([\d.]+) (B/op|allocs/op|objs/req)`)
)

// measureAllocs runs the in-process benchmarks (loopback backend, load
// engine, and Torii's engine in one process) and returns their lines, or a
// note saying why there are none.
func measureAllocs(ctx context.Context, o *options) ([]allocLine, string) {
	logf("running the in-process allocation benchmarks (bench/inproc)")
	return benchAllocs(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem",
		"-benchtime", "20000x", "-count", "1", "./bench/inproc")
}

// coreAllocsCmd is the engine's HTTP/2 allocation benchmark with its HTTP/1.1 baseline: one
// stream after the other on one h2c connection, client and backend allocation-free, the whole
// process counted (core/h2_alloc_test.go).
const coreAllocsCmd = "go test ./core -run '^$' -bench 'ProxyH2Get$|ProxyGet$' -benchmem -benchtime 20000x"

// measureCoreAllocs runs coreAllocsCmd and returns its lines, or a note saying why there are none.
func measureCoreAllocs(ctx context.Context) ([]allocLine, string) {
	logf("running the engine's HTTP/2 allocation benchmark: %s", coreAllocsCmd)
	return benchAllocs(ctx, "go", "test", "./core", "-run", "^$", "-bench", "ProxyH2Get$|ProxyGet$", "-benchmem",
		"-benchtime", "20000x", "-count", "1")
}

// benchAllocs runs a go test benchmark command, bounded to 5 minutes, and parses its lines.
func benchAllocs(ctx context.Context, name string, args ...string) ([]allocLine, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	lines := parseBench(string(out))
	if err != nil || len(lines) == 0 {
		return lines, "the benchmark failed: " + firstLine(string(out))
	}
	return lines, ""
}

func parseBench(out string) []allocLine {
	var lines []allocLine
	for _, m := range benchLine.FindAllStringSubmatch(out, -1) {
		l := allocLine{Name: m[1], ObjsPerReq: -1}
		l.NsPerOp, _ = strconv.ParseFloat(m[2], 64)
		for _, u := range benchUnit.FindAllStringSubmatch(m[0], -1) {
			v, _ := strconv.ParseFloat(u[1], 64)
			switch u[2] {
			case "B/op":
				l.BytesPerOp = v
			case "allocs/op":
				l.AllocsPerOp = v
			case "objs/req":
				l.ObjsPerReq = v
			}
		}
		lines = append(lines, l)
	}
	return lines
}
