package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/internal/testkit"
)

const unitPath = "../../dist/torii.service"

// TestSystemdUnit: the unit in dist/ has what an operator needs (restart on failure only, a
// descriptor limit, a dedicated user with a state directory, the admin key in a file,
// hardening), passes systemd-analyze verify without a warning (when systemd is installed),
// and its ExecStart runs: torii starts with exactly those flags (ports and directory moved to
// the test's), writes the admin key file 0600 and exits 0 on SIGTERM.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	for _, want := range []string{"\nRestart=on-failure\n", "\nLimitNOFILE=", "\nDynamicUser=yes\n", "\nStateDirectory=torii\n",
		"--admin-key-file /var/lib/torii/", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nKillSignal=SIGTERM\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	var execStart []string
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = strings.Fields(v)
		}
	}
	if len(execStart) < 2 || execStart[0] != "/usr/local/bin/torii" || execStart[1] != "serve" {
		t.Fatalf("ExecStart %q is not /usr/local/bin/torii serve ...", execStart)
	}

	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		dir := t.TempDir()
		local := filepath.Join(dir, "torii.service")
		if err := os.WriteFile(local, []byte(strings.ReplaceAll(unit, "/usr/local/bin/torii", toriiBin)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", local).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	} else {
		t.Log("systemd-analyze is not installed: the unit is not verified")
	}

	data := t.TempDir()
	args := make([]string, 0, len(execStart))
	for _, a := range execStart[1:] {
		switch {
		case a == ":8080" || a == "127.0.0.1:9000":
			a = anyPort
		case strings.HasPrefix(a, "/var/lib/torii"):
			a = data + strings.TrimPrefix(a, "/var/lib/torii")
		}
		args = append(args, a)
	}
	p := testkit.StartTorii(t, toriiBin, args...)
	fi, err := os.Stat(filepath.Join(data, "admin-key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin key file: %v %v, want mode 0600", fi, err)
	}
	p.Stop()
}
