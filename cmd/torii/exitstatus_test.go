package main

import (
	"net/http"
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

// TestExitStatusOnFailure: when the proxy engine, the admin API or the database fails while
// torii serve runs, torii stops by itself with a non-zero status and a last error line saying
// why (before, an engine that gnet stopped on EMFILE gave status 0 and the clean-stop line, and a
// broken database was retried forever). Only a signal gives status 0 (TestSigtermExitsCleanly,
// testkit.Torii.Stop).
func TestExitStatusOnFailure(t *testing.T) {
	bin := faultBinary(t)
	defer os.RemoveAll(filepath.Dir(bin))
	f := func(fault, why string, during func(g *gateway)) {
		t.Helper()
		t.Setenv("TORII_FAULT", fault)
		trigger := filepath.Join(t.TempDir(), "trigger")
		if during != nil {
			t.Setenv("TORII_FAULT_TRIGGER", trigger)
		}
		p := testkit.StartTorii(t, bin, "serve", "--listen", anyPort, "--admin", anyPort, "--echo", "off",
			"--data-dir", t.TempDir(), "--loops", "1")
		if during != nil {
			g := &gateway{Torii: p, t: t}
			if m := keyRe.FindStringSubmatch(p.Out.String()); m != nil {
				g.id, g.secret = m[1], m[2]
			}
			during(g)
			if err := os.WriteFile(trigger, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.After(20 * time.Second)
	wait:
		for {
			select {
			case <-p.Exited():
				break wait
			case <-deadline:
				t.Fatalf("%s failure: torii still runs", fault)
			case <-time.After(200 * time.Millisecond):
				if fault == "db" { // counted calls make the quota persister write
					_ = getWithKeyErr(p.Proxy, "keyed.test", "key_e2e", "secret-e2e-0123456789")
				}
			}
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
	f("engine", "proxy engine stopped unexpectedly", nil)
	f("admin", "cannot serve admin API", nil)
	be := testkit.TextBackend(t, "ok")
	f("db", "cannot persist quota counters", func(g *gateway) { keyedRoute(t, g, be) })
}

// getWithKeyErr is getWithKey without the test failing: the gateway may be stopping.
func getWithKeyErr(addr, host, id, secret string) error {
	req, err := http.NewRequest("GET", "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	req.Host = host
	req.Header.Set("Otoroshi-Client-Id", id)
	req.Header.Set("Otoroshi-Client-Secret", secret)
	res, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	return res.Body.Close()
}
