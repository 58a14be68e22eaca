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
