package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type machine struct {
	CPU     string `json:"cpu"`
	Cores   int    `json:"cores"`
	MemGiB  string `json:"mem_gib"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	Nginx   string `json:"nginx"`
	HAProxy string `json:"haproxy"`
	Wrk     string `json:"wrk"`
	Load    string `json:"loadavg"`     // at the start: shows whether the machine was shared
	LoadEnd string `json:"loadavg_end"` // at the end
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if mm := regexp.MustCompile(`MemTotal:\s+(\d+) kB`).FindSubmatch(b); mm != nil {
			kb, _ := strconv.ParseFloat(string(mm[1]), 64)
			m.MemGiB = strconv.FormatFloat(kb/(1<<20), 'f', 1, 64)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Load = loadAverage()
	m.Nginx = toolVersion("nginx", "-v")
	m.HAProxy = toolVersion("haproxy", "-v")
	m.Wrk = toolVersion("wrk", "-v")
	return m
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// toolVersion returns the first line a tool prints for its version flag.
func toolVersion(name, flag string) string {
	p, err := lookPath(name)
	if err != nil {
		return "missing"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, p, flag).CombinedOutput() // wrk -v exits 1
	line := firstLine(string(out))
	line = strings.TrimPrefix(line, "nginx version: ")
	line = strings.Replace(line, "HAProxy version ", "HAProxy ", 1)
	for _, cut := range []string{" Copyright", " - https://"} {
		if i := strings.Index(line, cut); i >= 0 {
			line = line[:i]
		}
	}
	if line == "" {
		return fmt.Sprintf("%s (unknown version)", name)
	}
	return line
}
