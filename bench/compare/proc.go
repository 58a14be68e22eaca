package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// proc is a process this driver started; it is stopped by its PID only.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startProc starts args pinned to cpu (taskset execs the program, so the PID
// is the program's), with its output in dir/name.log.
func startProc(dir, name string, cpu int, nofile int, args ...string) (*proc, error) {
	full := []string{"taskset", "-c", strconv.Itoa(cpu)}
	// Raising the hard limit needs CAP_SYS_RESOURCE, which containers often lack.
	nofile = nofileLimit(nofile)
	if nofile > 0 && os.Geteuid() == 0 {
		n := strconv.Itoa(nofile)
		full = append([]string{"prlimit", "--nofile=" + n + ":" + n, "--"}, full...)
	}
	full = append(full, args...)
	logPath := filepath.Join(dir, name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("cannot create log for %s: %w", name, err)
	}
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("cannot start %s (%s): %w", name, strings.Join(full, " "), err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait() //nolint:errcheck // the exit status is read from ProcessState
		out.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the PID (nginx's master stops its worker itself),
// then SIGKILL after a grace period.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have just exited
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill() //nolint:errcheck // idem
		<-p.done
	}
}

// logTail returns the end of the process's log, for error messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return strings.TrimSpace(string(b))
}

// waitPort waits until addr accepts a TCP connection or p exits.
func waitPort(ctx context.Context, p *proc, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("cannot start %s: it exited: %s", p.name, p.logTail())
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("cannot reach %s on %s within 10s: %s", p.name, addr, p.logTail())
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cannot find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// procStat is what /proc says about a process tree (a PID and its children).
type procStat struct {
	cpu    time.Duration // user+system
	rssKiB int64
}

// treeStat sums CPU time and RSS over pid and its direct children (nginx's
// workers).
func treeStat(pid int) (procStat, error) {
	pids := append([]int{pid}, children(pid)...)
	var st procStat
	for _, p := range pids {
		cpu, err := cpuOf(p)
		if err != nil {
			return st, err
		}
		rss, err := rssOf(p)
		if err != nil {
			return st, err
		}
		st.cpu += cpu
		st.rssKiB += rss
	}
	return st, nil
}

// statFields returns the fields of /proc/PID/stat after the command name
// (index 0 is the state, 1 the ppid, 11 utime, 12 stime).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, fmt.Errorf("cannot read stat of PID %d: %w", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("cannot parse stat of PID %d", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("cannot parse stat of PID %d: %d fields", pid, len(f))
	}
	return f, nil
}

func cpuOf(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("cannot parse CPU time of PID %d: %w", pid, err)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// rssOf reads VmRSS (KiB) from /proc/PID/status.
func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("cannot read status of PID %d: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cannot parse VmRSS of PID %d: %w", pid, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for PID %d", pid)
}

// children lists the PIDs whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		f, err := statFields(p)
		if err != nil {
			continue
		}
		if f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}
