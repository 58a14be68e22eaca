package testkit

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// toriiPkg is the import path of the binary BuildTorii builds.
const toriiPkg = "github.com/torii-gateway/torii/cmd/torii"

// BuildTorii builds the torii binary into dir and returns its path. It takes no testing.TB so
// that a TestMain can build it once for a whole package.
func BuildTorii(dir string) (string, error) {
	bin := filepath.Join(dir, "torii")
	out, err := exec.Command("go", "build", "-o", bin, toriiPkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("cannot build torii: %w\n%s", err, out)
	}
	return bin, nil
}

// MainWithTorii is a TestMain body for a package whose tests start the binary: it builds torii
// into a temporary directory, stores its path in *bin, runs the tests and returns their exit
// code (1 when the build fails).
func MainWithTorii(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "torii-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = BuildTorii(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// Addrs are the addresses a torii process reports in its --ready-file, empty for a listener
// it does not run.
type Addrs struct {
	Proxy string `json:"proxy"`
	Admin string `json:"admin"`
	Echo  string `json:"echo"`
	// TLS is the --listen-tls listener.
	TLS string `json:"tls"`
	// Status is torii worker's --status listener.
	Status string `json:"status"`
}

// Torii is one torii process started by StartTorii.
type Torii struct {
	Addrs           // where it listens, as it reported
	Cmd   *exec.Cmd // the process; Cmd.ProcessState is set once Exited is closed
	Out   *Buffer   // its stdout and stderr

	t    testing.TB
	done chan struct{}
}

// StartTorii runs bin with args (a command, "serve" or "proxy", then its flags; listen flags
// should say port 0) and returns once torii has written its ready file, with the addresses it
// reported. It fails the test if torii exits first or is not ready within 20 s. At cleanup a
// process still running gets SIGTERM (and SIGKILL 10 s later, failing the test), and torii's
// output is logged if the test failed.
func StartTorii(t testing.TB, bin string, args ...string) *Torii {
	t.Helper()
	if len(args) == 0 {
		t.Fatal("StartTorii: no torii command")
	}
	ready := filepath.Join(t.TempDir(), "ready.json")
	argv := append([]string{args[0], "--ready-file", ready}, args[1:]...)
	p := &Torii{Cmd: exec.Command(bin, argv...), Out: &Buffer{}, t: t, done: make(chan struct{})}
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("cannot start torii: %v", err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(p.cleanup)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil {
			if err := json.Unmarshal(b, &p.Addrs); err != nil || p.Proxy == "" {
				t.Fatalf("torii wrote a bad ready file %q (%v)", b, err)
			}
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("torii %q exited before it was ready (%v)", argv, p.Cmd.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("torii %q was not ready within 20s", argv)
		}
	}
}

// Exited is closed once the process has exited.
func (p *Torii) Exited() <-chan struct{} { return p.done }

// Stop sends SIGTERM and fails the test unless torii exits with status 0 within 20 s.
func (p *Torii) Stop() {
	p.t.Helper()
	if !p.terminate(20 * time.Second) {
		p.t.Fatal("torii did not exit within 20s of SIGTERM")
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("torii exited with status %d after SIGTERM", code)
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Torii) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// terminate sends SIGTERM and waits up to d for the process to exit; past d it kills the
// process and returns false.
func (p *Torii) terminate(d time.Duration) bool {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		p.Kill()
		return false
	}
}

func (p *Torii) cleanup() {
	select {
	case <-p.done:
	default:
		if !p.terminate(10 * time.Second) {
			p.t.Errorf("torii did not exit within 10s of SIGTERM")
		}
	}
	if p.t.Failed() {
		p.t.Logf("torii output:\n%s", p.Out)
	}
}
