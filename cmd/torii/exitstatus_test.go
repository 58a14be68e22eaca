package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/testkit"
)

var (
	faultOnce sync.Once
	faultBin  string
	faultErr  error
)

// faultBinary builds, once, torii with the toriifault tag: TORII_FAULT then makes a failure
// inside the running gateway (fault_on.go).
func faultBinary(t *testing.T) string {
	t.Helper()
	faultOnce.Do(func() {
		dir, err := os.MkdirTemp("", "torii-fault")
		if err != nil {
			faultErr = err
			return
		}
		faultBin = filepath.Join(dir, "torii-fault")
		out, err := exec.Command("go", "build", "-tags", "toriifault", "-o", faultBin, "github.com/torii-gateway/torii/cmd/torii").CombinedOutput()
		if err != nil {
			faultErr = err
			t.Logf("%s", out)
		}
	})
	if faultErr != nil {
		t.Fatalf("cannot build torii with the toriifault tag: %v", faultErr)
	}
	return faultBin
}

// TestExitStatusOnFailure: when the proxy engine or the admin API fails while torii serve
// runs, torii stops by itself with a non-zero status and a last error line saying why (before,
// an engine that gnet stopped on EMFILE gave status 0 and the clean-stop line). Only a signal
// gives status 0 (TestSigtermExitsCleanly, testkit.Torii.Stop).
func TestExitStatusOnFailure(t *testing.T) {
	bin := faultBinary(t)
	defer os.RemoveAll(filepath.Dir(bin))
	f := func(fault, why string) {
		t.Helper()
		t.Setenv("TORII_FAULT", fault)
		p := testkit.StartTorii(t, bin, "serve", "--listen", anyPort, "--admin", anyPort, "--echo", "off",
			"--data-dir", t.TempDir(), "--loops", "1")
		select {
		case <-p.Exited():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s failure: torii still runs", fault)
		}
		out := p.Out.String()
		if code := p.Cmd.ProcessState.ExitCode(); code == 0 {
			t.Errorf("%s failure: exit status 0\n%s", fault, out)
		}
		if !strings.Contains(out, `msg="stopped on a failure"`) || !strings.Contains(out, why) {
			t.Errorf("%s failure: no error line saying %q\n%s", fault, why, out)
		}
		if strings.Contains(out, "in-flight requests finished, quota counters flushed, database closed") {
			t.Errorf("%s failure: logged as a clean stop\n%s", fault, out)
		}
	}
	f("engine", "proxy engine stopped unexpectedly")
	f("admin", "cannot serve admin API")
}
